using System.Security.Cryptography;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Numerics;
using Lineup.Storage.Postgres;
using Lineup.Vision.Models;

namespace Lineup.Cli.Tests;

/// <summary>
/// A worker that died between its catalog commit and its index add: its committed items stay waiting for the index,
/// and the next `lineup worker` adds their faces from the catalog and completes the run, so the index again holds
/// exactly the catalogued faces. The dead worker is played by the test through the catalog's own queue calls, which is
/// the only way to stop one at exactly that point.
/// </summary>
public sealed class DistributedReindexTests() : DistributedCliTest("reindex")
{
    [SkippableFact]
    public async Task Committed_items_whose_worker_died_before_indexing_are_indexed_by_the_next_worker()
    {
        await StartAsync();
        var source = Dir.Combine("photos");
        Directory.CreateDirectory(source);

        var random = new Random(5);
        long runId;
        await using (var catalog = await PostgresCatalog.OpenAsync(Schema.ConnectionString, ModelPackManifest.Default.Id, TimeProvider.System))
        {
            var collection = await catalog.EnsureCollectionAsync("dev", "test photos", "DE");
            var run = await catalog.StartRunAsync(collection.Id, "folder", source);
            runId = run.Id;
            await catalog.EnqueueAsync(run.Id, [.. Enumerable.Range(0, 5).Select(i => ((long)i, $"p{i}.jpg"))]);
            await catalog.SetRunTotalAsync(run.Id, 5);

            // The dead worker: three photos with two faces each, one without a face, one unreadable; committed, never indexed.
            var claims = await catalog.ClaimAsync("dead", 5, TimeSpan.FromSeconds(1));
            Assert.Equal(5, claims.Count);
            IngestEntry Stored(WorkClaim claim, int faces) =>
                new(claim.Sequence, claim.Name, faces > 0 ? IngestStatus.Ingested : IngestStatus.NoFace, Image: Image(collection.Id, random, faces));
            await catalog.CommitClaimedAsync("dead", run.Id,
            [
                Stored(claims[0], 2), Stored(claims[1], 2), Stored(claims[2], 2), Stored(claims[3], 0),
                new(claims[4].Sequence, claims[4].Name, IngestStatus.Failed, "p4.jpg: corrupt"),
            ]);
        }

        Assert.Equal(["6"], await RowsAsync("SELECT count(*) FROM faces"));
        Assert.Equal(["done 2", "indexing 3"], await RowsAsync("SELECT state || ' ' || count(*) FROM ingest_work GROUP BY state ORDER BY 1"));
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        var worker = await CliProcess.RunAsync(Distributed("worker", "--name", "survivor", "--until-idle", "--json"), Env);
        Assert.True(worker.ExitCode == ExitCodes.Ok, worker.Stderr + worker.Stdout);
        Assert.Contains("\"reindexed\": 3", worker.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"committed\": 0", worker.Stdout, StringComparison.Ordinal);

        Assert.Equal(["done 5"], await RowsAsync("SELECT state || ' ' || count(*) FROM ingest_work GROUP BY state"));
        Assert.Equal(["completed"], await RowsAsync($"SELECT status FROM ingest_runs WHERE id = {runId}"));
        var status = await CliProcess.RunAsync(Distributed("cluster", "status", "--json"), Env);
        Assert.True(status.ExitCode == ExitCodes.Ok, status.Stderr + status.Stdout);
        Assert.Contains("\"indexedFaces\": 6", status.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"catalogFaces\": 6", status.Stdout, StringComparison.Ordinal);
    }

    private static NewImage Image(long collectionId, Random random, int faces)
    {
        var bytes = new byte[64];
        random.NextBytes(bytes);
        return new NewImage(collectionId, SHA256.HashData(bytes), bytes.Length, "jpeg", 640, 480,
            new Provenance("https://example.org/a.jpg", "https://example.org/page"),
            [.. Enumerable.Range(0, faces).Select(_ => Face(random))]);
    }

    private static AnalyzedFace Face(Random random)
    {
        var embedding = new float[512];
        for (var i = 0; i < embedding.Length; i++)
        {
            embedding[i] = (float)((random.NextDouble() * 2) - 1);
        }

        VectorMath.Normalize(embedding);
        return new AnalyzedFace(new BoxF(10, 10, 110, 110), 0.9f,
            new Landmarks5(new(40, 50), new(80, 50), new(60, 70), new(45, 90), new(75, 90)), embedding);
    }
}
