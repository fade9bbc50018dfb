using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Core.Numerics;
using Lineup.Index;
using Lineup.Index.Garnet;
using Lineup.Ingest;
using Lineup.Ingest.Sources;
using Lineup.Storage.Postgres;
using Lineup.TestSupport;
using Xunit.Abstractions;

namespace Lineup.Cli.Tests;

/// <summary>
/// A Garnet primary killed with SIGKILL while ingest writes (issue 8): the real <see cref="IngestPipeline"/> commits to a
/// PostgreSQL catalog (the shared test server, a schema of its own) and then adds the faces to a
/// <see cref="GarnetVectorIndex"/> on a cluster of the test's own (<see cref="GarnetProcessCluster"/>, 3 primaries with a
/// replica each), while searches run. Every item the pipeline reported as committed is in the catalog; searches keep
/// answering; after the failover and a repopulation of the failed-over shards from the catalog, the index holds exactly
/// the catalogued faces.
/// </summary>
/// <remarks>
/// The pipeline is driven directly rather than through <c>LineupEngine</c>: the engine needs the ONNX models and real
/// photos only to produce embeddings, and this is about what happens to them afterwards. A stub analyzer hands the
/// pipeline known faces, so everything from the catalog commit on (ledger, commit order, index add, failure handling) is
/// the product's own code. The repopulation is <see cref="GarnetVectorIndex.RepopulateShardAsync"/> fed from the catalog,
/// which is what <c>lineup cluster repopulate --shard N</c> does.
/// <para>
/// Repopulating the failed-over shards is enough only if a committed batch whose index add fails still reaches every
/// shard that answers: the shards the error names (and the failover moves) must be the only ones missing faces. A batch
/// holding a group photo spans several pipelined adds, so an add that gave up at the first failing one would leave faces
/// of live shards out of the index for good (the run fails, a resumed run skips the committed items).
/// </para>
/// </remarks>
public sealed class GarnetCatalogFaultTests(ITestOutputHelper output)
{
    private const int Dims = 64;
    private const int ItemsPerRun = 32;
    private const int RunsBeforeKill = 1;
    private const int RunsAfterKill = 2;
    private const int K = 10;

    /// <summary>Faces of a group photo (a team, a crowd at an event): common in press and web galleries.</summary>
    private const int GroupFaces = 80;

    [SkippableFact]
    public async Task A_primary_killed_during_ingest_loses_no_committed_face_and_repopulation_matches_index_to_catalog()
    {
        var clock = Stopwatch.StartNew();
        await using var schema = await PostgresTestServer.CreateSchemaAsync();
        await using var cluster = await GarnetProcessCluster.StartAsync(primaries: 3, replicasPerPrimary: 1);
        output.WriteLine($"cluster up in {clock.Elapsed.TotalSeconds:0.0} s");
        await using var catalog = await PostgresCatalog.OpenAsync(schema.ConnectionString, StubAnalyzer.Model, TimeProvider.System);
        await using var index = await GarnetVectorIndex.ConnectAsync(new GarnetIndexOptions
        {
            Endpoints = cluster.Endpoints,
            KeyPrefix = "ingestfault",
            Dimensions = Dims,
        });
        var collection = await catalog.EnsureCollectionAsync("press", "public interest", "GB");
        var analyzer = new StubAnalyzer();
        var pipeline = new IngestPipeline([analyzer, analyzer], catalog, catalog, index, new NearDuplicateIndex(), new IngestOptions());

        var status = await index.ShardStatusAsync();
        var victim = status[0].Node!;
        var victimPort = int.Parse(victim.Split(':')[1]);
        var victimShards = status.Where(s => s.Node == victim).Select(s => s.Shard).ToHashSet();

        // Searches from two tasks the whole time: none may fail, and a partial result must name only the dead shards.
        var killed = 0;
        var searchFailures = new ConcurrentQueue<string>();
        long searchesAfterKill = 0, answeredByReplica = 0;
        using var stopSearches = new CancellationTokenSource();
        var searches = Enumerable.Range(0, 2).Select(worker => Task.Run(async () =>
        {
            var random = new Random(100 + worker);
            while (!stopSearches.IsCancellationRequested)
            {
                var after = Volatile.Read(ref killed) == 1;
                try
                {
                    var result = await index.SearchAsync(StubAnalyzer.Unit(random), K);
                    if (!result.MissingShards.All(victimShards.Contains) || !result.ReplicaShards.All(victimShards.Contains))
                    {
                        searchFailures.Enqueue($"missing {string.Join(",", result.MissingShards)}, replica {string.Join(",", result.ReplicaShards)}");
                    }

                    if (after)
                    {
                        Interlocked.Increment(ref searchesAfterKill);
                        if (result.ReplicaShards.Count > 0)
                        {
                            Interlocked.Increment(ref answeredByReplica);
                        }
                    }
                }
                catch (Exception ex)
                {
                    searchFailures.Enqueue(ex.ToString());
                }

                // A steady load, not a flood: the ingest and the cluster share this machine's cores.
                await Task.Delay(10);
            }
        })).ToArray();

        // The writer: runs one after another, as `lineup ingest` would be started again. The pipeline reports an item only
        // once its catalog transaction has committed, so what it reported is what the catalog acknowledged.
        var committed = new ConcurrentQueue<IngestOutcome>();
        var runErrors = new List<Exception>();
        var runs = new List<long>();
        var item = 0;
        var committedAtKill = 0;
        try
        {
            async Task IngestRunAsync(int run)
            {
                var started = await catalog.StartRunAsync(collection.Id, "test", $"run-{run}");
                runs.Add(started.Id);
                try
                {
                    await pipeline.RunAsync(new StubSource(item, ItemsPerRun), started, collection, committed.Enqueue);
                    await catalog.FinishRunAsync(started.Id, IngestRunStatus.Completed, null);
                }
                catch (Exception ex) when (Volatile.Read(ref killed) == 1)
                {
                    // What the engine does with a run whose stage failed.
                    runErrors.Add(ex);
                    await catalog.FinishRunAsync(started.Id, IngestRunStatus.Failed, ex.Message);
                }
                finally
                {
                    item += ItemsPerRun;
                }
            }

            for (var run = 0; run < RunsBeforeKill; run++)
            {
                await IngestRunAsync(run);
            }

            // The kill lands in the middle of the next run, once part of it has committed (counted, not timed).
            var beforeKill = committed.Count;
            var midRun = IngestRunAsync(RunsBeforeKill);
            while (committed.Count < beforeKill + (ItemsPerRun / 4) && !midRun.IsCompleted)
            {
                await Task.Delay(5);
            }

            Volatile.Write(ref killed, 1);
            committedAtKill = committed.Count;
            await cluster.KillPrimaryAsync(victimPort);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: killed primary {victim} (shards {string.Join(",", victimShards.Order())}) after {committed.Count} committed items");
            await midRun;
            for (var run = RunsBeforeKill + 1; run <= RunsBeforeKill + RunsAfterKill; run++)
            {
                await IngestRunAsync(run);
            }

            while (Interlocked.Read(ref searchesAfterKill) < 50)
            {
                Assert.True(searches.All(s => !s.IsCompleted), "a search task stopped");
                await Task.Delay(20);
            }

            await stopSearches.CancelAsync();
            await Task.WhenAll(searches);
        }
        finally
        {
            // Also when an assertion above fails: the search tasks must not outlive the test.
            await stopSearches.CancelAsync();
        }

        output.WriteLine(
            $"{committed.Count} items committed, {runErrors.Count} runs stopped by the index: " +
            string.Join(" | ", runErrors.Select(e => e.GetType().Name + ": " + e.Message.Split('\n')[0]).Distinct()));
        output.WriteLine($"{searchesAfterKill} searches after the kill, {answeredByReplica} answered in part by the replica");
        Assert.Empty(searchFailures);
        Assert.True(answeredByReplica > 0, "no search after the kill was answered by the replica");

        // Writes after the kill are acknowledged by the catalog and then fail at the index add, naming dead shards only.
        Assert.True(committed.Count > committedAtKill, "nothing was committed after the kill");
        Assert.NotEmpty(runErrors);
        foreach (var error in runErrors)
        {
            Assert.IsType<VectorIndexException>(error);
            var named = Regex.Match(error.Message, @"shard\(s\) ([0-9, ]+) of");
            Assert.True(named.Success, error.Message);
            Assert.Subset(victimShards, named.Groups[1].Value.Split(", ").Select(int.Parse).ToHashSet());
        }

        // 1. Every committed item is in the catalog, whole: its outcome in its run, its image with exactly its faces.
        var recorded = 0;
        foreach (var run in runs)
        {
            recorded += (await catalog.GetRunItemsAsync(run)).Count;
        }

        Assert.Equal(committed.Count, recorded);
        var ingested = committed.Where(o => o.Status == IngestStatus.Ingested).ToList();
        Assert.Equal(committed.Count, ingested.Count);
        var catalogued = new HashSet<long>();
        foreach (var outcome in ingested)
        {
            var faces = analyzer.FacesOf(outcome.Name);
            var stored = await catalog.GetEmbeddingsOfImageAsync(outcome.ImageId!.Value);
            Assert.Equal(faces.Count, outcome.Faces);
            Assert.Equal(faces.Count, stored.Count);
            for (var f = 0; f < faces.Count; f++)
            {
                Assert.Equal(EmbeddingCodec.Decode(EmbeddingCodec.Encode(faces[f].Embedding)), stored[f].Vector);
                catalogued.Add(stored[f].FaceId);
            }
        }

        var stats = await catalog.GetStatsAsync();
        Assert.Equal(catalogued.Count, stats.Faces);

        // 2. Failover, then the failed-over shards repopulated from the catalog: they lost what the replica had not received
        // and never got the faces whose add failed.
        output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: catalog checked; {Describe(await MissingAsync(index, catalogued), index)} before the failover");
        var failover = await index.FailoverAsync(victimShards.First());
        Assert.Equal(victimShards.Order(), failover.Shards.Order());
        var repopulated = 0L;
        foreach (var shard in failover.Shards)
        {
            repopulated += await index.RepopulateShardAsync(shard, CatalogFacesAsync(catalog, collection));
        }

        output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: failover {failover.OldPrimary} -> {failover.NewPrimary}; shards {string.Join(",", failover.Shards)} repopulated with {repopulated} faces");

        // 3. The index holds exactly the catalogued faces.
        var missing = await MissingAsync(index, catalogued);
        Assert.True(missing.Count == 0, $"{Describe(missing, index)} after repopulating shards {string.Join(",", failover.Shards)}");
        Assert.Equal(stats.Faces, await index.CountAsync());
        output.WriteLine($"index and catalog agree on {stats.Faces} faces; {clock.Elapsed.TotalSeconds:0.0} s in all");
    }

    private static async Task<List<long>> MissingAsync(GarnetVectorIndex index, IEnumerable<long> faces)
    {
        var missing = new List<long>();
        foreach (var face in faces)
        {
            if (!await index.ContainsAsync(face))
            {
                missing.Add(face);
            }
        }

        return missing;
    }

    private static string Describe(List<long> missing, GarnetVectorIndex index) =>
        $"{missing.Count} catalogued faces not in the index (by shard: " +
        $"{string.Join(", ", missing.GroupBy(index.ShardOf).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}"))})";

    /// <summary>Every catalogued face with its collection's attributes, as <c>lineup cluster repopulate</c> feeds a shard.</summary>
    private static async IAsyncEnumerable<(long Key, float[] Vector, long CollectionId, string? Jurisdiction)> CatalogFacesAsync(
        PostgresCatalog catalog, Collection collection, [EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (var face in catalog.ReadEmbeddingsAsync(0, ct))
        {
            yield return (face.FaceId, face.Vector, collection.Id, collection.Jurisdiction);
        }
    }

    /// <summary>Items named <c>item-N</c> whose bytes are unique to N.</summary>
    private sealed class StubSource(int first, int count) : IIngestSource
    {
        public string Kind => "test";

        public string Description => $"items {first}-{first + count - 1}";

        public Task<long?> CountAsync(CancellationToken ct) => Task.FromResult<long?>(count);

        public async IAsyncEnumerable<IngestItem> ReadAsync([EnumeratorCancellation] CancellationToken ct)
        {
            for (var i = first; i < first + count; i++)
            {
                ct.ThrowIfCancellationRequested();
                var bytes = new byte[16];
                BitConverter.TryWriteBytes(bytes, i);
                "fault"u8.CopyTo(bytes.AsSpan(8));
                yield return IngestItem.InMemory($"item-{i}", bytes, new Provenance(OriginalPath: $"item-{i}"));
                await Task.Yield();
            }
        }
    }

    /// <summary>
    /// Faces known in advance, their embeddings fixed by the item number N: the first item of every run is a group photo of
    /// <see cref="GroupFaces"/> faces, more than one pipelined add of <see cref="GarnetIndexOptions.AddConcurrency"/> (64)
    /// holds, and the others have 1 + N % 4. A run's first batch, the one committed before a dead shard stops the run,
    /// always holds the group photo, so the index add of a committed batch spans several pipelined adds.
    /// </summary>
    private sealed class StubAnalyzer : IPhotoAnalyzer
    {
        public const string Model = "stub-model";

        public string ModelId => Model;

        public int Dimensions => Dims;

        public static float[] Unit(Random random)
        {
            var v = new float[Dims];
            for (var i = 0; i < v.Length; i++)
            {
                v[i] = (float)((random.NextDouble() * 2) - 1);
            }

            VectorMath.Normalize(v);
            return v;
        }

        public IReadOnlyList<AnalyzedFace> FacesOf(string name) => Faces(int.Parse(name["item-".Length..]));

        public PhotoAnalysis Analyze(ReadOnlySpan<byte> encoded, DecodeLimits limits, bool withPictures)
        {
            var n = BitConverter.ToInt32(encoded);
            return new PhotoAnalysis(new ImageInfo(ImageFormat.Jpeg, 640, 480, encoded.Length), 1f, Faces(n), default);
        }

        private static AnalyzedFace[] Faces(int n)
        {
            var random = new Random(n);
            var count = n % ItemsPerRun == 0 ? GroupFaces : 1 + (n % 4);
            return Enumerable.Range(0, count).Select(f => new AnalyzedFace(
                new BoxF(10 + (f * 120), 20, 110 + (f * 120), 140),
                0.9f,
                new Landmarks5(new(40 + (f * 120), 60), new(80 + (f * 120), 60), new(60 + (f * 120), 80), new(45 + (f * 120), 100), new(75 + (f * 120), 100)),
                Unit(random))).ToArray();
        }
    }
}
