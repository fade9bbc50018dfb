using System.Security.Cryptography;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Numerics;
using Lineup.Hosting;
using Lineup.Index.Garnet;
using Lineup.TestSupport;
using Npgsql;

namespace Lineup.Cli.Tests;

/// <summary>
/// Rebuilding the distributed index from a catalog that cannot be read to the end, or holds a face a shard refuses, on
/// PostgreSQL and the Garnet cluster. The failures are provoked for real by damaging one stored embedding with SQL (what
/// a bad restore or a manual edit would leave): a blob too short to be an embedding fails the catalog's reader in its second
/// page, a well-formed one of a single component (a 1-dimensional vector) fails the shard it belongs to. The error thrown is the cause itself; no shard's
/// live set is replaced by a partial one, no staging key is left behind, and a failed shard does not stall the others.
/// </summary>
public sealed class DistributedRepopulateFailureTests : IAsyncLifetime
{
    /// <summary>Faces indexed before the damage: what every shard must still hold after a failed rebuild.</summary>
    private const int Indexed = 10;

    private readonly TempDirectory _dir = new("repopulate-failure");
    private readonly Random _random = new(5);
    private PostgresTestSchema? _schema;
    private GarnetTestKeys? _keys;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_schema is not null)
        {
            await _schema.DisposeAsync();
        }

        if (_keys is not null)
        {
            await _keys.DisposeAsync();
        }

        _dir.Dispose();
    }

    [SkippableFact]
    public async Task A_catalog_read_failing_mid_way_surfaces_as_the_readers_own_error_and_no_shard_is_replaced()
    {
        await using var engine = await OpenAsync();
        var garnet = (GarnetVectorIndex)engine.Index;
        var before = await IndexedPerShardAsync(garnet);

        // More faces than one page of the reader (4,096), the last damaged: the reader fails after the first page has
        // been handed to the shards, which have started staging it.
        var ids = await AddFacesAsync(engine, 4_200, garnet.Dimensions);
        await SetEmbeddingAsync(ids[^1], new byte[3]);

        var ex = await Assert.ThrowsAsync<CatalogException>(() => WithinAsync(engine.RebuildIndexAsync(null, CancellationToken.None)));
        Assert.Contains($"Face {ids[^1]}: its stored embedding cannot be read", ex.Message, StringComparison.Ordinal);

        Assert.Equal(before, await IndexedPerShardAsync(garnet));
        Assert.Empty(await StagingKeysAsync());
    }

    [SkippableFact]
    public async Task A_shard_refusing_a_face_fails_the_rebuild_with_its_error_without_stalling_the_other_shard()
    {
        await using var engine = await OpenAsync();
        var garnet = (GarnetVectorIndex)engine.Index;
        var before = await IndexedPerShardAsync(garnet);

        // The first new face is damaged; more than a feed's 1,024 places of its shard's faces come after it, so a
        // reader that kept feeding the failed shard would wait forever for room.
        var ids = await AddFacesAsync(engine, 2_600, garnet.Dimensions);
        var failing = garnet.ShardOf(ids[0]);
        var other = 1 - failing;
        Assert.True(ids.Skip(1).Count(id => garnet.ShardOf(id) == failing) > 1_024, "too few faces after the damaged one to fill its shard's feed");
        await SetEmbeddingAsync(ids[0], EmbeddingCodec.Encode([0.5f]));

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => WithinAsync(engine.RebuildIndexAsync(null, CancellationToken.None)));
        Assert.Contains($"The index holds {garnet.Dimensions}-dimensional vectors; got 1.", ex.Message, StringComparison.Ordinal);

        // The failed shard keeps its old set; the other was rebuilt with every catalogued face of its own.
        var after = await IndexedPerShardAsync(garnet);
        Assert.Equal(before[failing], after[failing]);
        var catalogued = (await FaceIdsAsync()).Count(id => garnet.ShardOf(id) == other);
        Assert.Equal(catalogued, after[other]);
        Assert.True(after[other] > before[other]);
        Assert.Empty(await StagingKeysAsync());
    }

    [SkippableFact]
    public async Task A_shard_failing_for_its_own_reason_besides_a_failed_read_is_reported_after_the_readers_error()
    {
        await using var engine = await OpenAsync();
        var garnet = (GarnetVectorIndex)engine.Index;
        var before = await IndexedPerShardAsync(garnet);

        // The first new face fails its shard while the first page is fed; the last fails the reader in the second page.
        var ids = await AddFacesAsync(engine, 4_200, garnet.Dimensions);
        var failing = garnet.ShardOf(ids[0]);
        await SetEmbeddingAsync(ids[0], EmbeddingCodec.Encode([0.5f]));
        await SetEmbeddingAsync(ids[^1], new byte[3]);

        var ex = await Assert.ThrowsAsync<AggregateException>(() => WithinAsync(engine.RebuildIndexAsync(null, CancellationToken.None)));
        Assert.Equal(2, ex.InnerExceptions.Count);
        Assert.Contains($"Face {ids[^1]}:", Assert.IsType<CatalogException>(ex.InnerExceptions[0]).Message, StringComparison.Ordinal);
        Assert.Contains("got 1.", Assert.IsType<ArgumentException>(ex.InnerExceptions[1]).Message, StringComparison.Ordinal);
        Assert.Contains($"Reading the catalog failed (Face {ids[^1]}: its stored embedding cannot be read", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"shard(s) {failing} failed as well", ex.Message, StringComparison.Ordinal);

        Assert.Equal(before, await IndexedPerShardAsync(garnet));
        Assert.Empty(await StagingKeysAsync());
    }

    /// <summary>A distributed engine of its own (schema, key prefix) over two shards, holding <see cref="Indexed"/> indexed faces.</summary>
    private async Task<LineupEngine> OpenAsync()
    {
        await TestPaths.ModelsAsync();
        _schema = await PostgresTestServer.CreateSchemaAsync();
        _keys = await GarnetTestCluster.CreateKeysAsync();
        var engine = await LineupEngine.OpenAsync(new LineupOptions
        {
            DataDirectory = _dir.Combine("data"),
            ModelsDirectory = TestPaths.ModelCache,
            Workers = 1,
            Backend = "distributed",
            Distributed = new DistributedSettings
            {
                Postgres = _schema.ConnectionString,
                Garnet = _keys.Endpoints,
                KeyPrefix = _keys.Prefix,
                Shards = 2,
            },
        });
        try
        {
            await AddFacesAsync(engine, Indexed, ((GarnetVectorIndex)engine.Index).Dimensions);
            await engine.RebuildIndexAsync(null, CancellationToken.None);
            var before = await IndexedPerShardAsync((GarnetVectorIndex)engine.Index);
            Assert.Equal(Indexed, before.Sum());
            Assert.All(before, n => Assert.True(n > 0, "a shard holds none of the first faces"));
            return engine;
        }
        catch
        {
            await engine.DisposeAsync();
            throw;
        }
    }

    /// <summary>Catalogues <paramref name="count"/> images of one face each (not indexed); returns the face ids in order.</summary>
    private async Task<long[]> AddFacesAsync(LineupEngine engine, int count, int dimensions)
    {
        var collection = await engine.Catalog.EnsureCollectionAsync("c", "test", "DE");
        var known = (await FaceIdsAsync()).ToHashSet();
        for (var start = 0; start < count; start += 500)
        {
            var batch = Enumerable.Range(start, Math.Min(500, count - start)).Select(_ => Image(collection.Id, dimensions)).ToList();
            await engine.Catalog.AddImagesAsync(batch);
        }

        var ids = (await FaceIdsAsync()).Where(id => !known.Contains(id)).ToArray();
        Assert.Equal(count, ids.Length);
        return ids;
    }

    private NewImage Image(long collectionId, int dimensions)
    {
        var bytes = new byte[32];
        _random.NextBytes(bytes);
        var embedding = new float[dimensions];
        for (var i = 0; i < embedding.Length; i++)
        {
            embedding[i] = (float)((_random.NextDouble() * 2) - 1);
        }

        VectorMath.Normalize(embedding);
        var face = new AnalyzedFace(
            new BoxF(10, 10, 110, 110), 0.9f,
            new Landmarks5(new(40, 50), new(80, 50), new(60, 70), new(45, 90), new(75, 90)),
            embedding);
        return new NewImage(collectionId, SHA256.HashData(bytes), bytes.Length, "jpeg", 640, 480, new Provenance(), [face]);
    }

    /// <summary>Fails the test instead of hanging it when the rebuild never ends (the stall this mends).</summary>
    private static async Task WithinAsync(Task rebuild)
    {
        var finished = await Task.WhenAny(rebuild, Task.Delay(TimeSpan.FromMinutes(3)));
        Assert.True(ReferenceEquals(finished, rebuild), "the rebuild did not end");
        await rebuild;
    }

    private static async Task<long[]> IndexedPerShardAsync(GarnetVectorIndex garnet) =>
        [.. (await garnet.ShardStatusAsync()).OrderBy(s => s.Shard).Select(s => s.Count ?? -1)];

    /// <summary>Keys under this test's prefix that a repopulation stages into, on every primary.</summary>
    private async Task<List<string>> StagingKeysAsync()
    {
        var found = new List<string>();
        foreach (var (host, port) in GarnetTestCluster.Nodes)
        {
            await using var node = await GarnetResp.ConnectAsync(host, port);
            var info = (string?)await node.SendAsync("INFO", "replication") ?? "";
            if (!info.Contains("role:master", StringComparison.Ordinal))
            {
                continue;
            }

            var cursor = "0";
            do
            {
                var page = (object?[])(await node.SendAsync("SCAN", cursor, "MATCH", _keys!.Prefix + "*", "COUNT", "1000"))!;
                cursor = (string)page[0]!;
                found.AddRange(((object?[])page[1]!).Select(k => (string)k!).Where(k => k.EndsWith(":repopulating", StringComparison.Ordinal)));
            }
            while (cursor != "0");
        }

        return found;
    }

    private async Task<List<long>> FaceIdsAsync()
    {
        await using var connection = new NpgsqlConnection(_schema!.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id FROM faces ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new List<long>();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    private async Task SetEmbeddingAsync(long faceId, byte[] blob)
    {
        await using var connection = new NpgsqlConnection(_schema!.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("UPDATE faces SET embedding = @blob WHERE id = @id", connection);
        command.Parameters.AddWithValue("blob", blob);
        command.Parameters.AddWithValue("id", faceId);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }
}
