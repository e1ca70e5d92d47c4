using Microsoft.Extensions.Options;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Shared;

namespace ShopGpt.Tests.Conversations;

public sealed class CursorAndTokenTests
{
    private readonly KeysetCursor cursors = new(Options.Create(new CursorOptions { Key = "a-test-key-of-enough-length" }));

    [Fact]
    public void ListCursorRoundTripsForItsOwnerOnly()
    {
        var user = Guid.NewGuid();
        var at = new DateTimeOffset(2026, 11, 26, 1, 2, 3, TimeSpan.Zero).AddTicks(1230);
        var id = Guid.CreateVersion7();
        var c = cursors.EncodeListPosition(user, at, id);
        Assert.True(cursors.TryDecodeListPosition(user, c, out var at2, out var id2));
        Assert.Equal((at, id), (at2, id2));
        Assert.False(cursors.TryDecodeListPosition(Guid.NewGuid(), c, out _, out _));
        Assert.False(new KeysetCursor(Options.Create(new CursorOptions { Key = "another-key-entirely!" })).TryDecodeListPosition(user, c, out _, out _));
    }

    [Fact]
    public void EveryFlippedCharacterInvalidatesACursor()
    {
        var user = Guid.NewGuid();
        var c = cursors.EncodeListPosition(user, DateTimeOffset.UtcNow, Guid.NewGuid());
        for (var i = 0; i < c.Length; i++)
        {
            var flipped = c[..i] + (c[i] == 'x' ? 'y' : 'x') + c[(i + 1)..];
            Assert.False(cursors.TryDecodeListPosition(user, flipped, out _, out _), $"position {i}");
        }
    }

    [Fact]
    public void SeqCursorIsBoundToTheConversation()
    {
        var user = Guid.NewGuid();
        var conv = Guid.NewGuid();
        var c = cursors.EncodeSeq(user, conv, 42);
        Assert.True(cursors.TryDecodeSeq(user, conv, c, out var seq));
        Assert.Equal(42, seq);
        Assert.False(cursors.TryDecodeSeq(user, Guid.NewGuid(), c, out _));
        Assert.False(cursors.TryDecodeListPosition(user, c, out _, out _));
    }

    [Fact]
    public void SessionTokensCarryTheUserAndHashDeterministically()
    {
        var user = Guid.CreateVersion7();
        var t1 = SessionToken.Create(user);
        var t2 = SessionToken.Create(user);
        Assert.NotEqual(t1, t2);
        Assert.Equal(SessionToken.EncodedLength, t1.Length);
        Assert.True(SessionToken.TryParse(t1, out var parsed, out var hash));
        Assert.Equal(user, parsed);
        Assert.Equal(SessionToken.Hash(t1), hash);
        Assert.False(SessionToken.TryParse(t1[..^1], out _, out _));
        Assert.False(SessionToken.TryParse(new string('!', SessionToken.EncodedLength), out _, out _));
    }
}
