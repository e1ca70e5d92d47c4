using ShopGpt.Server;

// The table of contents lives in AppHost so tests can start real instances in-process.
var app = AppHost.Build(args);
await AppHost.PrepareAsync(app);
await app.RunAsync();
