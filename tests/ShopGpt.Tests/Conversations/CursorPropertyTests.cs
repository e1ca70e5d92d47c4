using CsCheck;
using Microsoft.Extensions.Options;
using ShopGpt.Server.Accounts;
using ShopGpt.Server.Shared;

namespace ShopGpt.Tests.Conversations;

/// <summary>Property-based checks of the decoders that face untrusted input (issue 9).</summary>
public sealed class CursorPropertyTests
{
    private static readonly KeysetCursor Cursors = new(Options.Create(new CursorOptions { Key = "property-test-key-123" }));

    [Fact]
    public void ArbitraryStringsNeverThrowAndAreNeverAcceptedAsCursors()
    {
        var user = Guid.NewGuid();
        Gen.String.Sample(s =>
        {
            Assert.False(Cursors.TryDecodeListPosition(user, s, out _, out _));
            Assert.False(Cursors.TryDecodeSeq(user, user, s, out _));
        }, iter: 20_000);
    }

    [Fact]
    public void ArbitraryBase64UrlPayloadsAreRejectedWithoutTheMac()
    {
        var user = Guid.NewGuid();
        Gen.Byte.Array[0, 80].Sample(bytes =>
        {
            var s = System.Buffers.Text.Base64Url.EncodeToString(bytes);
            Assert.False(Cursors.TryDecodeListPosition(user, s, out _, out _));
        }, iter: 20_000);
    }

    [Fact]
    public void EveryPositionRoundTrips()
    {
        Gen.Select(Gen.Guid, Gen.Long[0, DateTimeOffset.MaxValue.UtcTicks / 10], Gen.Guid).Sample((user, micros, id) =>
        {
            var at = new DateTimeOffset(micros * 10, TimeSpan.Zero);
            var c = Cursors.EncodeListPosition(user, at, id);
            Assert.True(Cursors.TryDecodeListPosition(user, c, out var at2, out var id2));
            Assert.Equal(at, at2);
            Assert.Equal(id, id2);
        }, iter: 5_000);
        Gen.Select(Gen.Guid, Gen.Guid, Gen.Long[1, long.MaxValue]).Sample((user, conv, seq) =>
        {
            Assert.True(Cursors.TryDecodeSeq(user, conv, Cursors.EncodeSeq(user, conv, seq), out var back));
            Assert.Equal(seq, back);
        }, iter: 5_000);
    }

    [Fact]
    public void ArbitraryBearerTokensNeverThrow()
    {
        Gen.String.Sample(s =>
        {
            if (SessionToken.TryParse(s, out _, out var hash)) Assert.Equal(32, hash.Length);
        }, iter: 20_000);
        Gen.Char.Array[SessionToken.EncodedLength].Sample(chars => { SessionToken.TryParse(new string(chars), out _, out _); }, iter: 20_000);
    }
}
