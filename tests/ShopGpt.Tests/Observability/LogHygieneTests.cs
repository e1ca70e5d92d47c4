using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using ShopGpt.Server.Accounts;
using ShopGpt.Tests.Infrastructure;
using ShopGpt.Tests.Realtime;

namespace ShopGpt.Tests.Observability;

/// <summary>
/// Issue 15, finding 3: a whole session (register, login, guest, conversation, sends over REST and
/// WebSocket with the assistant answering, product and message search, logout) against a server
/// process with the shipped log levels; everything it wrote is scanned for what the session used.
/// </summary>
public sealed class LogHygieneTests
{
    [Fact]
    public async Task ASessionLeavesNoTextTokenOrTokenHashInTheLogsAndFewLines()
    {
        // Null: no test override, the server logs at appsettings.json's levels (Information by default).
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = null,
            ["Assistant:Enabled"] = "true",
            ["Assistant:CatalogChunkDelayMs"] = "0",
        });
        var linesAtStart = Lines(server.FullOutput);
        var run = Guid.NewGuid().ToString("N")[..10];
        var secrets = new List<string>();
        string Secret(string s)
        {
            secrets.Add(s);
            return s;
        }

        using var anon = server.Client();
        var email = Secret($"loghygiene{run}@example.com");
        var password = Secret($"pw-{run}-correct horse");
        var reg = await anon.PostAsJsonAsync("/api/auth/register", new { email, password, displayName = "Log Hygiene" });
        Assert.Equal(HttpStatusCode.Created, reg.StatusCode);
        var login = await anon.PostAsJsonAsync("/api/auth/login", new { email, password });
        var token = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
        var guest = (await (await anon.PostAsync("/api/auth/guest", null)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
        foreach (var t in new[] { token, guest, (await reg.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()! })
        {
            Secret(t);
            var hash = SessionToken.Hash(t);
            Secret(Convert.ToHexString(hash));
            Secret(Convert.ToHexString(hash).ToLowerInvariant());
            Secret(Convert.ToBase64String(hash));
            Secret(Base64Url.EncodeToString(hash));
            Secret(SessionStore.CacheKey(hash)[8..]);
        }

        using var http = server.Client(token);
        var cid = (await (await http.PostAsJsonAsync("/api/conversations", new { title = Secret($"title {run} secret plans") }))
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        var restText = Secret($"quokkacharger{run} for my phone under $40");
        Assert.Equal(HttpStatusCode.Created, (await http.PostAsJsonAsync($"/api/conversations/{cid}/messages", new { text = restText, clientId = Secret($"rest-{run}") })).StatusCode);

        var ticketRes = await http.PostAsync("/api/realtime/ticket", null);
        var ticket = Secret((await ticketRes.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("ticket").GetString()!);
        await using (var ws = await WsClient.ConnectWithTicketAsync(server.BaseAddress, ticket))
        {
            await ws.WaitForTypeAsync("hello");
            await ws.SubscribeAsync(cid);
            var wsRef = Secret($"ws-{run}");
            await ws.SendAsync(new { t = "send", cid, @ref = wsRef, text = Secret($"wombatcase{run} in blue") });
            var ack = await ws.AckAsync(wsRef);
            var seq = ack.GetProperty("seq").GetInt64();
            // The assistant answers every user message: wait for the answer to the WebSocket one.
            await ws.WaitForAsync(f => WsClient.Type(f) == "done" && f.GetProperty("seq").GetInt64() > seq, TimeSpan.FromSeconds(60));
        }

        var q = Secret($"platypusdock{run}");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/api/products/search?q={q}&brand={Secret($"brand{run}")}&category={Secret($"cat{run}")}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/api/search/messages?q={Secret($"quokkacharger{run}")}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/products/{Secret($"no-such-product-{run}")}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await http.PostAsync("/api/auth/logout", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/conversations")).StatusCode);

        var logged = server.FullOutput;
        foreach (var s in secrets)
            Assert.False(logged.Contains(s, StringComparison.OrdinalIgnoreCase), $"The logs contain \"{s}\":\n{Excerpt(logged, s)}");
        // The run id is in every text above: no fragment of them either (a truncated key, a normalised query).
        Assert.DoesNotContain(run, logged, StringComparison.OrdinalIgnoreCase);
        // Default volume is bounded: a normal session logs nothing at the default levels (start-up lines excluded).
        var added = Lines(logged) - linesAtStart;
        Assert.True(added <= 5, $"The session logged {added} lines:\n{logged[^Math.Min(logged.Length, 3000)..]}");
    }

    private static int Lines(string s) => s.Count(c => c == '\n');

    private static string Excerpt(string logged, string s)
    {
        var i = logged.IndexOf(s, StringComparison.OrdinalIgnoreCase);
        var from = Math.Max(0, i - 300);
        return logged.Substring(from, Math.Min(logged.Length - from, 600));
    }
}
