using System.Net.WebSockets;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Realtime;

/// <summary>Issue 15, findings 11 (origin scheme, fragmented oversized message) and 1 (tickets of a revoked session).</summary>
[Collection(AppCollection.Name)]
public sealed class SocketEdgeTests(AppFixture fixture)
{
    [Fact]
    public async Task AnOriginWithTheRightHostButAnotherSchemeOrPortIsRefused()
    {
        using var user = await fixture.App.GuestAsync();
        var authority = fixture.App.BaseAddress.Authority;
        var port = fixture.App.BaseAddress.Port;
        foreach (var origin in new[] { $"https://{authority}", $"https://127.0.0.1", $"http://127.0.0.1", $"http://127.0.0.1:{port + 1}", $"http://localhost:{port}" })
            Assert.Equal(HttpStatusCode.Forbidden, (await WsClient.RefusedAsync(fixture.App, await WsClient.TicketAsync(fixture.App, user), origin)).Status);
        await using var same = await WsClient.ConnectAsync(fixture.App, user, origin: $"http://{authority}");
        await same.WaitForTypeAsync("hello");
    }

    [Fact]
    public async Task AnOversizedMessageSentInFragmentsIsClosedWith1009()
    {
        await FragmentsEndWith1009Async(fixture.App);
        // With an AllowedHosts list every upgrade takes Kestrel's HTTP path instead of the connection-level one.
        await using var viaHttp = await TestApp.StartAsync(new Dictionary<string, string?> { ["AllowedHosts"] = "127.0.0.1" });
        await FragmentsEndWith1009Async(viaHttp);
    }

    private static async Task FragmentsEndWith1009Async(TestApp app)
    {
        using var user = await app.GuestAsync();
        // A client that writes the whole message before it reads anything (as a simple client does):
        // the close frame waits in its socket, and a reset from the server would destroy it (1006).
        await using var ws = await WsClient.ConnectAsync(app, user, read: false);
        var chunk = System.Text.Encoding.UTF8.GetBytes(new string('x', 1024));
        try
        {
            await ws.Socket.SendAsync("{\"t\":\"ping\",\"ts\":\""u8.ToArray(), WebSocketMessageType.Text, false, CancellationToken.None);
            // Up to 1 MiB, far past the 64 KiB limit; the server closes somewhere after 64 KiB.
            for (var i = 0; i < 1024; i++) await ws.Socket.SendAsync(chunk, WebSocketMessageType.Text, false, CancellationToken.None);
        }
        catch (WebSocketException)
        {
            // The server closed while fragments were still going out.
        }
        ws.StartReading();
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, await ws.ClosedAsync());
    }

    [Fact]
    public async Task ATicketMintedBeforeLogoutOpensNothingAfterIt()
    {
        using var user = await fixture.App.GuestAsync();
        var ticket = await WsClient.TicketAsync(fixture.App, user);
        Assert.Equal(HttpStatusCode.NoContent, (await user.Http.PostAsync("/api/auth/logout", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await WsClient.RefusedAsync(fixture.App, ticket)).Status);

        // Other users' sessions and tickets are unaffected.
        using var other = await fixture.App.GuestAsync();
        await using var ws = await WsClient.ConnectAsync(fixture.App, other);
        await ws.WaitForTypeAsync("hello");
    }
}
