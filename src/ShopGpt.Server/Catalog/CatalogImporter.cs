using System.Diagnostics;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace ShopGpt.Server.Catalog;

/// <summary>What an import did. Re-importing the same files gives Inserted = Updated = Embedded = 0.</summary>
public sealed record ImportResult(int Read, int Skipped, int Inserted, int Updated, int Unchanged, int Embedded, double EmbedSeconds, double TotalSeconds)
{
    public double EmbeddingsPerSecond => EmbedSeconds > 0 ? Embedded / EmbedSeconds : 0;
}

/// <summary>Progress of the long part of an import (embedding), for a progress bar or a log line.</summary>
public interface IImportProgress
{
    void Report(string stage, int done, int total);
}

/// <summary>
/// Imports a catalog file or directory (formats in docs/catalog.md) into the products table:
/// normalise, find the rows whose content hash changed, embed only those, binary-COPY them into
/// a staging table and upsert. Re-importing unchanged data writes nothing and embeds nothing.
/// Products missing from the file are kept (a shop may import several files).
/// </summary>
public sealed partial class CatalogImporter(NpgsqlDataSource db, EmbeddingModel model, CatalogIndex index, IOptions<CatalogOptions> options, ILogger<CatalogImporter> log)
{
    public async Task<ImportResult> ImportAsync(string path, IImportProgress? progress, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var records = CatalogReader.Read(path, out var skipped);
        // A file may repeat an id: the last record wins, as a later line would in an upsert.
        var byId = new Dictionary<string, CatalogRecord>(StringComparer.Ordinal);
        foreach (var r in records) byId[r.Id] = r;
        var unique = byId.Values.ToList();
        var hashes = unique.ToDictionary(r => r.Id, r => r.ContentHash(), StringComparer.Ordinal);

        // 1. What is stored already: unchanged rows that have an embedding (when wanted) are skipped.
        var wantEmbeddings = options.Value.Embeddings;
        var stored = new Dictionary<string, (byte[] Hash, bool Embedded)>(StringComparer.Ordinal);
        await using (var cmd = db.CreateCommand("select product_id, content_hash, embedding is not null from products where product_id = any($1)"))
        {
            cmd.Parameters.AddWithValue(unique.Select(r => r.Id).ToArray());
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) stored[r.GetString(0)] = (r.GetFieldValue<byte[]>(1), r.GetBoolean(2));
        }
        var changed = unique.Where(r => !stored.TryGetValue(r.Id, out var s) || !s.Hash.AsSpan().SequenceEqual(hashes[r.Id]) || (wantEmbeddings && !s.Embedded)).ToList();
        var inserted = changed.Count(r => !stored.ContainsKey(r.Id));

        // 2. Embeddings for the changed rows only, in batches (the model is the slow part).
        var vectors = new float[]?[changed.Count];
        var embedStarted = Stopwatch.GetTimestamp();
        var embedded = 0;
        if (wantEmbeddings && changed.Count > 0)
        {
            var batch = options.Value.EmbeddingBatch;
            progress?.Report("embedding", 0, changed.Count);
            for (var i = 0; i < changed.Count; i += batch)
            {
                ct.ThrowIfCancellationRequested();
                var slice = changed.Skip(i).Take(batch).Select(r => r.EmbeddingText()).ToArray();
                var encoded = await Task.Run(() => model.Encode(slice), ct);
                for (var j = 0; j < encoded.Length; j++) vectors[i + j] = encoded[j];
                embedded += encoded.Length;
                progress?.Report("embedding", embedded, changed.Count);
            }
        }
        var embedSeconds = Stopwatch.GetElapsedTime(embedStarted).TotalSeconds;

        // 3. Binary COPY into a staging table, then one upsert that rewrites only rows whose hash differs.
        if (changed.Count > 0)
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            await using (var create = new NpgsqlCommand(
                """
                create temp table products_staging (like products including defaults) on commit drop;
                alter table products_staging drop column search_tsv;
                """, conn, tx))
                await create.ExecuteNonQueryAsync(ct);

            await using (var writer = await conn.BeginBinaryImportAsync(
                "copy products_staging (product_id, source, name, description, brand, categories, category_path, price, rating, review_count, image_url, url, popularity, content_hash, embedding) from stdin (format binary)", ct))
            {
                for (var i = 0; i < changed.Count; i++)
                {
                    var r = changed[i];
                    await writer.StartRowAsync(ct);
                    await writer.WriteAsync(r.Id, NpgsqlDbType.Text, ct);
                    await writer.WriteAsync(r.Source, NpgsqlDbType.Text, ct);
                    await writer.WriteAsync(r.Name, NpgsqlDbType.Text, ct);
                    await writer.WriteAsync(r.Description, NpgsqlDbType.Text, ct);
                    await WriteNullable(writer, r.Brand, NpgsqlDbType.Text, ct);
                    await writer.WriteAsync(r.Categories, NpgsqlDbType.Array | NpgsqlDbType.Text, ct);
                    await writer.WriteAsync(r.CategoryPath, NpgsqlDbType.Text, ct);
                    await WriteNullable(writer, r.Price, NpgsqlDbType.Numeric, ct);
                    await WriteNullable(writer, r.Rating, NpgsqlDbType.Real, ct);
                    await WriteNullable(writer, r.ReviewCount, NpgsqlDbType.Integer, ct);
                    await WriteNullable(writer, r.ImageUrl, NpgsqlDbType.Text, ct);
                    await WriteNullable(writer, r.Url, NpgsqlDbType.Text, ct);
                    await WriteNullable(writer, r.Popularity, NpgsqlDbType.Integer, ct);
                    await writer.WriteAsync(hashes[r.Id], NpgsqlDbType.Bytea, ct);
                    await WriteNullable(writer, vectors[i], NpgsqlDbType.Array | NpgsqlDbType.Real, ct);
                }
                await writer.CompleteAsync(ct);
            }

            await using (var upsert = new NpgsqlCommand(
                """
                insert into products (product_id, source, name, description, brand, categories, category_path, price, rating, review_count,
                                      image_url, url, popularity, content_hash, embedding, updated_at)
                select product_id, source, name, description, brand, categories, category_path, price, rating, review_count,
                       image_url, url, popularity, content_hash, embedding, now()
                from products_staging
                on conflict (product_id) do update set
                    source = excluded.source, name = excluded.name, description = excluded.description, brand = excluded.brand,
                    categories = excluded.categories, category_path = excluded.category_path, price = excluded.price,
                    rating = excluded.rating, review_count = excluded.review_count, image_url = excluded.image_url,
                    url = excluded.url, popularity = excluded.popularity, content_hash = excluded.content_hash,
                    embedding = coalesce(excluded.embedding, products.embedding), updated_at = now()
                where products.content_hash <> excluded.content_hash
                   or (products.embedding is null and excluded.embedding is not null)
                """, conn, tx))
                await upsert.ExecuteNonQueryAsync(ct);
            await tx.CommitAsync(ct);
        }

        await index.ReloadAsync(ct);
        var result = new ImportResult(records.Count + skipped, skipped, inserted, changed.Count - inserted, unique.Count - changed.Count,
            embedded, embedSeconds, Stopwatch.GetElapsedTime(started).TotalSeconds);
        LogImported(log, result.Read, result.Inserted, result.Updated, result.Unchanged, result.Skipped, result.Embedded);
        return result;
    }

    /// <summary>
    /// Imports <see cref="CatalogOptions.SeedPath"/> when the catalog is empty (first start). An
    /// advisory lock makes instances starting together seed once: the others wait, then find rows.
    /// </summary>
    public async Task SeedIfEmptyAsync(CancellationToken ct)
    {
        var path = options.Value.SeedPath;
        await using var conn = await db.OpenConnectionAsync(ct);
        // Cheap checks first, without the lock: an instance with nothing to seed, or starting
        // after the catalog exists, never waits behind another instance's import.
        if (await CatalogExistsAsync(conn, ct)) return;
        if (string.IsNullOrWhiteSpace(path) || !(File.Exists(path) || Directory.Exists(path)))
        {
            LogNoSeed(log, path ?? "(not set)");
            return;
        }
        // The import with embeddings takes longer than a command timeout: wait for the lock without one.
        await using (var lockCmd = new NpgsqlCommand("select pg_advisory_lock(4000400)", conn) { CommandTimeout = 0 })
            await lockCmd.ExecuteNonQueryAsync(ct);
        try
        {
            if (await CatalogExistsAsync(conn, ct)) return;
            LogSeeding(log, path);
            await ImportAsync(path, new LogProgress(log), ct);
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("select pg_advisory_unlock(4000400)", conn);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    private static async Task<bool> CatalogExistsAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("select exists (select 1 from products)", conn);
        return (bool)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private static Task WriteNullable<T>(NpgsqlBinaryImporter w, T? value, NpgsqlDbType type, CancellationToken ct) =>
        value is null ? w.WriteNullAsync(ct) : w.WriteAsync(value, type, ct);

    private sealed partial class LogProgress(ILogger log) : IImportProgress
    {
        private int lastDecile = -1;

        public void Report(string stage, int done, int total)
        {
            var decile = total == 0 ? 10 : done * 10 / total;
            if (decile == lastDecile) return;
            lastDecile = decile;
            LogProgressLine(log, stage, done, total);
        }

        [LoggerMessage(Level = LogLevel.Information, Message = "Catalog seed: {Stage} {Done}/{Total}")]
        private static partial void LogProgressLine(ILogger logger, string stage, int done, int total);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Catalog import: {Read} read, {Inserted} new, {Updated} changed, {Unchanged} unchanged, {Skipped} skipped, {Embedded} embedded")]
    private static partial void LogImported(ILogger logger, int read, int inserted, int updated, int unchanged, int skipped, int embedded);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The catalog is empty and there is no seed at {Path}: import one with ./shopgpt import PATH (formats: docs/catalog.md)")]
    private static partial void LogNoSeed(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Seeding the empty catalog from {Path}")]
    private static partial void LogSeeding(ILogger logger, string path);
}
