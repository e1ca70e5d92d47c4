using ShopGpt.Tests.Caching;
using ShopGpt.Tests.Infrastructure;

namespace ShopGpt.Tests.Accounts;

[Collection(CacheInstancesCollection.Name)]
public sealed class SessionCacheTests
{
    [Fact]
    public async Task LogoutOnOneInstanceIsRejectedOnTheOtherOnTheVeryNextRequest()
    {
        await using var a = await TestApp.StartAsync();
        await using var b = await TestApp.StartAsync();
        using var user = await a.GuestAsync();
        using var onB = b.Client(user.Token);

        // Both instances have resolved (and cached) the session.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await user.Http.GetAsync("/api/conversations")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await onB.GetAsync("/api/conversations")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.NoContent, (await user.Http.PostAsync("/api/auth/logout", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await onB.GetAsync("/api/conversations")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await user.Http.GetAsync("/api/conversations")).StatusCode);
    }

    [Fact]
    public async Task ManyLogoutsAreEachRejectedOnTheOtherInstanceAtOnce()
    {
        await using var a = await TestApp.StartAsync();
        await using var b = await TestApp.StartAsync();
        for (var i = 0; i < 20; i++)
        {
            using var user = await a.GuestAsync();
            using var onB = b.Client(user.Token);
            Assert.Equal(HttpStatusCode.OK, (await onB.GetAsync("/api/conversations")).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await onB.PostAsync("/api/auth/logout", null)).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await user.Http.GetAsync("/api/conversations")).StatusCode);
        }
    }
}
