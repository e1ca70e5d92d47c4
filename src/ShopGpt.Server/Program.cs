using ShopGpt.Server;
using ShopGpt.Server.Catalog;

// `import PATH` loads a catalog and exits, with the server's own configuration (./shopgpt import).
if (args is ["import", var path, ..]) return await ImportCommand.RunAsync(path, args[2..]);

// The table of contents lives in AppHost so tests can start real instances in-process.
var app = AppHost.Build(args);
await AppHost.PrepareAsync(app);
await app.RunAsync();
return 0;
