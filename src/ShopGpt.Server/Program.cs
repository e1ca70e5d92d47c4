using ShopGpt.Server;
using ShopGpt.Server.Data.Tools;

// Tool modes of the same binary (./shopgpt seed, ./shopgpt bench db): no web host.
if (args is ["seed", .. var seedArgs]) return await SeedTool.RunAsync(seedArgs);
if (args is ["bench-db", .. var benchArgs]) return await DbBench.RunAsync(benchArgs);

// The table of contents lives in AppHost so tests can start real instances in-process.
var app = AppHost.Build(args);
await AppHost.PrepareAsync(app);
await app.RunAsync();
return 0;
