using System.Runtime.CompilerServices;
using Lineup.Core.Catalog;
using Lineup.Core.Imaging;
using Lineup.Core.Indexing;
using Lineup.Hosting;
using Lineup.Ingest;
using Lineup.Ingest.Sources;
using Lineup.TestSupport;

namespace Lineup.Cli.Tests;

[Trait("Category", "Data")]
public sealed class IngestFailureTests
{
    [SkippableFact]
    public async Task A_failing_stage_stops_the_run_with_its_own_error_instead_of_hanging()
    {
        using var dir = new TempDirectory("ingest-stop");
        var photo = await File.ReadAllBytesAsync(TestPaths.Face("lfw_deepfunneled/images/Tiger_Woods/Tiger_Woods_0001.jpg"));
        var options = await Engines.OptionsAsync(dir);
        var engine = await LineupEngine.OpenAsync(options);
        var collection = await engine.Catalog.EnsureCollectionAsync("c", "test", null);

        // The index is the one part here that cannot be made to fail for real (a full disk would be), so a
        // decorator over the real index throws on its first add; everything else is the real pipeline.
        using var failing = new FailingIndex(engine.Index);
        var pipeline = new IngestPipeline([engine.Analyzer], engine.Catalog, engine.Ledger, failing, new NearDuplicateIndex(), new IngestOptions { BatchSize = 4 });
        var started = await engine.Ledger.StartRunAsync(collection.Id, "test", "repeating");
        var run = pipeline.RunAsync(new RepeatingSource(photo, 500), started, collection);

        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromMinutes(2)));
        Assert.Same(run, finished);
        var e = await Assert.ThrowsAsync<IOException>(() => run);
        Assert.Equal("index device full", e.Message);

        // What the catalog acknowledged is intact, and the index catches up from it at the next open.
        var stats = await engine.Catalog.GetStatsAsync();
        Assert.InRange(stats.Images, 1, 4);
        await engine.DisposeAsync();

        await using var reopened = await LineupEngine.OpenAsync(options);
        Assert.Equal(stats.Faces, reopened.Index.Count);
    }

    private sealed class RepeatingSource(byte[] photo, int count) : IIngestSource
    {
        public string Kind => "test";

        public string Description => "repeating";

        public Task<long?> CountAsync(CancellationToken ct) => Task.FromResult<long?>(count);

        public async IAsyncEnumerable<IngestItem> ReadAsync([EnumeratorCancellation] CancellationToken ct)
        {
            for (var i = 0; i < count; i++)
            {
                ct.ThrowIfCancellationRequested();
                var bytes = (byte[])photo.Clone();
                // Vary a trailing byte after the JPEG end marker so each item has its own hash.
                Array.Resize(ref bytes, bytes.Length + 4);
                BitConverter.TryWriteBytes(bytes.AsSpan(bytes.Length - 4), i);
                yield return new IngestItem($"photo{i}.jpg", _ => ValueTask.FromResult(bytes), new Provenance());
                await Task.Yield();
            }
        }
    }

    [SkippableFact]
    public async Task A_run_whose_source_changed_where_it_stopped_is_refused_and_the_unchanged_source_resumes()
    {
        using var dir = new TempDirectory("ingest-changed");
        await using var engine = await LineupEngine.OpenAsync(await Engines.OptionsAsync(dir));
        var collection = await engine.Catalog.EnsureCollectionAsync("c", "test", "DE");

        // A run whose source breaks after its second item, once both are committed.
        var committed = new TaskCompletionSource();
        var breaking = new ListSource(["a.jpg", "b.jpg", "c.jpg"], failAfter: 2, committed.Task);
        var observer = new IngestObserver { Item = o => { if (o.Sequence == 1) { committed.TrySetResult(); } } };
        var e = await Assert.ThrowsAsync<IOException>(() => engine.IngestAsync(breaking, collection, observer));
        Assert.Equal("disk gone", e.Message);
        var stopped = (await engine.Ledger.ListRunsAsync())[0];
        Assert.Equal((IngestRunStatus.Failed, 2L, "disk gone"), (stopped.Status, stopped.ItemsDone, stopped.Error));

        // Now the source differs where the run stopped: skipping by count would be wrong, so it is refused.
        var changed = await Assert.ThrowsAsync<IngestSourceException>(() => engine.IngestAsync(new ListSource(["a.jpg", "x.jpg", "c.jpg"]), collection));
        Assert.Contains("has changed", changed.Message, StringComparison.Ordinal);
        Assert.Contains("--new-run", changed.Message, StringComparison.Ordinal);

        // The source as it was resumes: two items passed over, one done, three recorded in all.
        var resumed = await engine.IngestAsync(new ListSource(["a.jpg", "b.jpg", "c.jpg"]), collection);
        Assert.True(resumed.Resumed);
        Assert.Equal(stopped.Id, resumed.Run.Id);
        Assert.Equal((1L, 2L, 3L), (resumed.Summary.Items, resumed.Summary.Skipped, resumed.Counts.Items));
        Assert.Equal(IngestRunStatus.Completed, resumed.Run.Status);
    }

    /// <summary>Synthetic photos (no faces) under the given names; optionally fails after some items.</summary>
    private sealed class ListSource(string[] names, int failAfter = int.MaxValue, Task? beforeFailing = null) : IIngestSource
    {
        public string Kind => "test";

        public string Description => "list";

        public Task<long?> CountAsync(CancellationToken ct) => Task.FromResult<long?>(names.Length);

        public async IAsyncEnumerable<IngestItem> ReadAsync([EnumeratorCancellation] CancellationToken ct)
        {
            for (var i = 0; i < names.Length; i++)
            {
                if (i == failAfter)
                {
                    await (beforeFailing ?? Task.CompletedTask).WaitAsync(TimeSpan.FromMinutes(1), ct);
                    throw new IOException("disk gone");
                }

                yield return IngestItem.InMemory(names[i], TestImages.Jpeg(40 + names[i][0], 40), new Provenance());
            }
        }
    }

    private sealed class FailingIndex(IVectorIndex inner) : IVectorIndex
    {
        public int Dimensions => inner.Dimensions;

        public long Count => inner.Count;

        public void Add(long key, ReadOnlySpan<float> vector) => throw new IOException("index device full");

        public void AddRange(ReadOnlySpan<long> keys, ReadOnlySpan<float> vectors) => throw new IOException("index device full");

        public bool Remove(long key) => inner.Remove(key);

        public bool Contains(long key) => inner.Contains(key);

        public int Search(ReadOnlySpan<float> query, Span<VectorHit> results) => inner.Search(query, results);

        public void Dispose()
        {
        }
    }
}
