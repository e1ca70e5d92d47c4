using ShopGpt.Server;
using ShopGpt.Server.Catalog;
using ShopGpt.Server.Data.Tools;

// Tool modes of the same binary, with the server's own configuration and no web host:
// ./shopgpt seed, ./shopgpt bench db, ./shopgpt import PATH.
if (args is ["seed", .. var seedArgs]) return await SeedTool.RunAsync(seedArgs);
if (args is ["bench-db", .. var benchArgs]) return await DbBench.RunAsync(benchArgs);
if (args is ["import", var path, ..]) return await ImportCommand.RunAsync(path, args[2..]);
if (args is ["analytics-replay", .. var replayArgs]) return await ShopGpt.Server.Analytics.ReplayCommand.RunAsync(replayArgs);

// The table of contents lives in AppHost so tests can start real instances in-process.
var app = AppHost.Build(args);
await AppHost.PrepareAsync(app);
await app.RunAsync();
return 0;
