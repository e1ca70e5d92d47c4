using ShopGpt.Server.Data;

namespace ShopGpt.Server.Catalog;

/// <summary>
/// <c>dotnet ShopGpt.Server.dll import PATH</c> (<c>./shopgpt import PATH</c>): the same
/// configuration and importer as the server, no web host. Progress goes to stderr, the summary
/// to stdout.
/// </summary>
public static class ImportCommand
{
    public static async Task<int> RunAsync(string path, string[] args)
    {
        var app = AppHost.Build(args);
        await using (app)
        {
            await app.Services.GetRequiredService<MigrationRunner>().RunAsync(CancellationToken.None);
            using var cts = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) =>
            {
                e.Cancel = true;
                cts.Cancel();
            };
            try
            {
                var r = await app.Services.GetRequiredService<CatalogImporter>().ImportAsync(path, new ConsoleProgressBar(), cts.Token);
                await Console.Out.WriteLineAsync(
                    $"imported {path}: {r.Read} read, {r.Inserted} new, {r.Updated} changed, {r.Unchanged} unchanged, {r.Skipped} skipped; " +
                    $"{r.Embedded} embedded in {r.EmbedSeconds:F1} s ({r.EmbeddingsPerSecond:F0}/s); total {r.TotalSeconds:F1} s");
                return 0;
            }
            catch (FileNotFoundException e)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return 2;
            }
        }
    }

    /// <summary>A one-line bar on stderr, redrawn in place.</summary>
    private sealed class ConsoleProgressBar : IImportProgress
    {
        private int lastPercent = -1;

        public void Report(string stage, int done, int total)
        {
            var percent = total == 0 ? 100 : done * 100 / total;
            if (percent == lastPercent) return;
            lastPercent = percent;
            const int width = 30;
            var filled = percent * width / 100;
            Console.Error.Write($"\r{stage,-10} [{new string('#', filled)}{new string('.', width - filled)}] {percent,3}% {done}/{total}");
            if (done >= total) Console.Error.WriteLine();
        }
    }
}
