using System.Security.Cryptography;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Indexing;
using Lineup.Storage;

namespace Lineup.Index.Tests;

/// <summary>
/// A saved index answers from a memory-mapped view while its writable copy loads (<see cref="MappedFirstIndex"/>).
/// The load is held on a gate here, so each test sees the index both before and after the switch.
/// </summary>
public sealed class MappedFirstIndexTests : IDisposable
{
    private const int Dims = 64;
    private const int Count = 3_000;

    private readonly TempDirectory _temp = new("mapped");
    private readonly USearchOptions _options = new() { Dimensions = Dims, Threads = 2, ExpansionSearch = 128 };
    private readonly float[] _vectors = Vectors.Clustered(new Random(5), Count, 150, Dims);
    private readonly float[] _queries = Vectors.Clustered(new Random(6), 40, 40, Dims);

    public MappedFirstIndexTests()
    {
        using var index = new USearchVectorIndex(_options);
        index.AddRange(Enumerable.Range(1, Count).Select(i => (long)i).ToArray(), _vectors);
        index.Save(Path);
    }

    private string Path => System.IO.Path.Combine(_temp.Path, "faces.usearch");

    public void Dispose() => _temp.Dispose();

    private MappedFirstIndex OpenGated(ManualResetEventSlim gate, Action<USearchVectorIndex>? loaded = null) =>
        new(USearchVectorIndex.Open(Path, _options, view: true), Path, _options, (path, options) =>
        {
            Assert.True(gate.Wait(TimeSpan.FromSeconds(60)), "the test never opened the gate");
            var index = USearchVectorIndex.Open(path, options);
            loaded?.Invoke(index);
            return index;
        });

    private List<VectorHit[]> SearchAll(IVectorIndex index)
    {
        var all = new List<VectorHit[]>();
        for (var q = 0; q < _queries.Length / Dims; q++)
        {
            var hits = new VectorHit[10];
            var n = index.Search(Vectors.Row(_queries, q, Dims), hits);
            all.Add(hits[..n]);
        }

        return all;
    }

    [Fact]
    public async Task Searches_answer_from_the_view_at_once_and_the_same_from_the_copy_and_the_first_add_waits_for_it()
    {
        List<VectorHit[]> expected;
        using (var reference = USearchVectorIndex.Open(Path, _options))
        {
            expected = SearchAll(reference);
        }

        using var gate = new ManualResetEventSlim();
        using var index = OpenGated(gate);

        // Still loading: the view answers, filtered searches and membership included.
        Assert.False(index.IsLoaded);
        Assert.Equal(Count, index.Count);
        Assert.Equal(expected, SearchAll(index));
        Assert.True(index.Contains(17));
        var allowed = FaceKeySet.FromKeys(Enumerable.Range(1, 500).Select(i => (long)i).ToArray());
        var filtered = new VectorHit[10];
        Assert.Equal(10, index.Search(Vectors.Row(_queries, 0, Dims), filtered, allowed));
        Assert.All(filtered, h => Assert.InRange(h.Key, 1, 500));

        // The add cannot go into the view: it waits for the copy, then lands in it.
        var added = Vectors.Unit(new Random(9), Dims);
        var add = Task.Run(() => index.Add(Count + 1, added));
        await Task.Delay(300);
        Assert.False(add.IsCompleted, "an add finished before the writable copy was loaded");
        Assert.Equal(Count, index.Count);

        gate.Set();
        await add.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(index.IsLoaded);
        Assert.Equal(Count + 1, index.Count);
        var hits = new VectorHit[1];
        Assert.Equal(1, index.Search(added, hits));
        Assert.Equal(Count + 1, hits[0].Key);
        Assert.True(index.Remove(Count + 1));
        Assert.Equal(expected, SearchAll(index));
    }

    [Fact]
    public async Task Without_a_write_searches_move_to_the_copy_when_it_has_loaded()
    {
        using var gate = new ManualResetEventSlim();
        using var index = OpenGated(gate);
        var before = SearchAll(index);
        gate.Set();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!index.IsLoaded && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.True(index.IsLoaded);
        Assert.Equal(before, SearchAll(index));
        Assert.False(index.Writable.IsReadOnly);
    }

    [Fact]
    public void A_failed_load_leaves_searches_on_the_view_and_refuses_every_write_with_its_reason()
    {
        using var index = new MappedFirstIndex(
            USearchVectorIndex.Open(Path, _options, view: true), Path, _options,
            (_, _) => throw new IOException("disk went away"));

        var add = Assert.Throws<VectorIndexException>(() => index.Add(Count + 1, Vectors.Unit(new Random(1), Dims)));
        Assert.Contains("disk went away", add.Message, StringComparison.Ordinal);
        Assert.Throws<VectorIndexException>(() => index.Remove(1));
        Assert.False(index.IsLoaded);
        Assert.Equal(Count, index.Count);
        Assert.Equal(10, SearchAll(index)[0].Length);
    }

    [Fact]
    public async Task Disposed_while_loading_it_releases_the_view_at_once_and_the_copy_when_its_load_ends()
    {
        using var gate = new ManualResetEventSlim();
        var copy = new TaskCompletionSource<USearchVectorIndex>(TaskCreationOptions.RunContinuationsAsynchronously);
        var index = OpenGated(gate, copy.SetResult);
        Assert.Equal(10, SearchAll(index)[0].Length);

        index.Dispose();
        Assert.Throws<ObjectDisposedException>(() => index.Search(Vectors.Row(_queries, 0, Dims), new VectorHit[10]));
        Assert.Throws<ObjectDisposedException>(() => index.Count);

        gate.Set();
        var loaded = await copy.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                _ = loaded.Count;
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            await Task.Delay(20);
        }

        Assert.Fail("the copy loaded after dispose was never released");
    }

    [Fact]
    public void Only_a_view_can_come_first()
    {
        using var loaded = USearchVectorIndex.Open(Path, _options);
        Assert.Throws<ArgumentException>(() => new MappedFirstIndex(loaded, Path, _options));
    }
}

/// <summary><see cref="FaceIndexStore.TryOpenMappedAsync"/> maps only an index exactly in step with the catalog.</summary>
public sealed class FaceIndexStoreMappedTests : IAsyncLifetime
{
    private const int D = 32;

    private readonly TempDirectory _dir = new();
    private readonly Random _random = new(78);
    private readonly USearchOptions _options = new() { Dimensions = D, Threads = 2, ExpansionSearch = 64 };
    private SqliteCatalog _catalog = null!;
    private long _collectionId;

    private string IndexDir => _dir.File("index");

    public async Task InitializeAsync()
    {
        _catalog = await SqliteCatalog.OpenAsync(_dir.File("catalog.db"), "test-model");
        _collectionId = (await _catalog.EnsureCollectionAsync("test", "consent", null)).Id;
    }

    public async Task DisposeAsync()
    {
        await _catalog.DisposeAsync();
        _dir.Dispose();
    }

    private async Task AddFacesAsync(int images)
    {
        var batch = Enumerable.Range(0, images).Select(_ =>
        {
            var bytes = new byte[32];
            _random.NextBytes(bytes);
            var face = new AnalyzedFace(new BoxF(0, 0, 10, 10), 0.9f, default, Vectors.Unit(_random, D));
            return new NewImage(_collectionId, SHA256.HashData(bytes), 32, "png", 10, 10, new Provenance(), [face]);
        }).ToList();
        await _catalog.AddImagesAsync(batch);
    }

    [Fact]
    public async Task An_index_in_step_is_mapped_and_one_behind_the_catalog_or_missing_is_left_to_the_sync()
    {
        Assert.Null(await FaceIndexStore.TryOpenMappedAsync(_catalog, IndexDir, _options));

        await AddFacesAsync(200);
        (await FaceIndexStore.OpenAndSyncAsync(_catalog, IndexDir, _options)).Index.Dispose();
        using (var mapped = await FaceIndexStore.TryOpenMappedAsync(_catalog, IndexDir, _options))
        {
            Assert.NotNull(mapped);
            Assert.Equal(200, mapped.Count);
        }

        // Faces catalogued after the save need a catch-up, which a view cannot take.
        await AddFacesAsync(5);
        Assert.Null(await FaceIndexStore.TryOpenMappedAsync(_catalog, IndexDir, _options));
        var caughtUp = await FaceIndexStore.OpenAndSyncAsync(_catalog, IndexDir, _options);
        Assert.Equal(IndexSyncOutcome.CaughtUp, caughtUp.Outcome);
        caughtUp.Index.Dispose();
        using (var mapped = await FaceIndexStore.TryOpenMappedAsync(_catalog, IndexDir, _options))
        {
            Assert.Equal(205, mapped!.Count);
        }

        // Another shape, or a file that does not hold what its metadata says, is not mapped either.
        Assert.Null(await FaceIndexStore.TryOpenMappedAsync(_catalog, IndexDir, _options with { Quantization = VectorQuantization.I8 }));
        await File.WriteAllBytesAsync(FaceIndexStore.IndexPath(IndexDir), new byte[64]);
        Assert.Null(await FaceIndexStore.TryOpenMappedAsync(_catalog, IndexDir, _options));
    }
}
