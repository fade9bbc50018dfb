using Lineup.Core.Catalog;
using Lineup.Storage.Postgres;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Lineup.Storage.Tests;

/// <summary>
/// A small real catalog with photos seen in several collections, on several hosts and dates; each filter must select
/// exactly the faces of the photos it describes.
/// </summary>
public abstract class SearchFilterContract<TCatalog>(ICatalogBackend<TCatalog> backend) : IAsyncLifetime
    where TCatalog : class, ICatalog, ISearchFilterCatalog
{
    private readonly Random _random = new(99);
    private readonly Dictionary<string, long[]> _faces = [];
    private TCatalog _catalog = null!;

    protected ICatalogBackend<TCatalog> Backend { get; } = backend;

    /// <summary>The stored reversed hosts of the sighting at <paramref name="sourceUrl"/>, read with the backend's own SQL.</summary>
    protected abstract Task<(string? Source, string? Page)> ReversedHostsAsync(string sourceUrl);

    private static DateTimeOffset Utc(int year, int month, int day, int hour = 0, int minute = 0, int second = 0) =>
        new(year, month, day, hour, minute, second, TimeSpan.Zero);

    public async Task InitializeAsync()
    {
        _catalog = await Backend.OpenAsync();
        var press = await _catalog.EnsureCollectionAsync("press", "public-interest", "GB");
        var archive = await _catalog.EnsureCollectionAsync("archive", "research", "US-IL");
        var web = await _catalog.EnsureCollectionAsync("web", "consent", "DE");
        var misc = await _catalog.EnsureCollectionAsync("misc", "consent", null);
        await _catalog.EnsureCollectionAsync("empty", "consent", "FR");

        await AddAsync("A", press.Id, new("https://img.example.com/a.jpg", "https://news.example.com/story", Utc(2023, 3, 1)));
        var b = await AddAsync("B", press.Id, new("https://cdn.other.org/b.jpg", "https://example.com/p", Utc(2022, 6, 15)));
        await AddAsync("C", archive.Id, new("https://badexample.com/c.jpg"));
        await AddAsync("D", web.Id, new("https://www.EXAMPLE.com/d.jpg", CapturedAt: Utc(2024, 1, 10)));
        await AddAsync("E", web.Id, new(OriginalPath: "/data/e.jpg", CapturedAt: Utc(2023, 7, 1)));
        await AddAsync("F", misc.Id, new("https://example.com./f.jpg", CapturedAt: Utc(2023, 12, 31, 23, 59, 59)));
        var g = await AddAsync("G", archive.Id, new("https://foo.org/g.jpg", CapturedAt: Utc(2023, 1, 1)));

        // B's bytes seen again by the archive, elsewhere and earlier: B is in the archive too, but not on example.com there.
        await _catalog.AddImagesAsync([b with { CollectionId = archive.Id, Provenance = new("https://mirror.net/b.jpg", CapturedAt: Utc(2021, 5, 5)) }]);

        // A re-encoded copy of G on example.com, filed under web: its sighting counts for G's faces.
        var copy = TestData.Image(web.Id, _random, faces: 0, new Provenance("https://copies.example.com/h.jpg")) with
        {
            NearDuplicateOf = (await _catalog.FindImageAsync(g.Sha256))!.Id,
        };
        await _catalog.AddImagesAsync([copy]);
    }

    public async Task DisposeAsync()
    {
        if (_catalog is not null)
        {
            await _catalog.DisposeAsync();
        }

        await Backend.DisposeAsync();
    }

    private async Task<NewImage> AddAsync(string name, long collectionId, Provenance provenance)
    {
        var image = TestData.Image(collectionId, _random, faces: 2, provenance);
        var stored = Assert.Single(await _catalog.AddImagesAsync([image]));
        _faces[name] = [.. stored.FaceIds];
        return image;
    }

    private async Task AssertSelectsAsync(SearchFilter filter, params string[] images)
    {
        var set = await _catalog.ResolveAsync(filter);
        Assert.False(set.IsAll);
        var expected = images.SelectMany(name => _faces[name]).Order().ToArray();
        Assert.Equal(expected, set.ToArray());
        Assert.Equal(expected.Length, set.Count);
    }

    [SkippableFact]
    public async Task Collections_select_every_photo_seen_in_them()
    {
        await AssertSelectsAsync(new SearchFilter(Collections: ["press"]), "A", "B");
        await AssertSelectsAsync(new SearchFilter(Collections: ["archive"]), "B", "C", "G");
        await AssertSelectsAsync(new SearchFilter(Collections: ["press", "misc"]), "A", "B", "F");
        await AssertSelectsAsync(new SearchFilter(Collections: ["empty"]));
    }

    [SkippableFact]
    public async Task Jurisdictions_select_by_collection_code_and_a_country_includes_its_subdivisions()
    {
        await AssertSelectsAsync(new SearchFilter(Jurisdictions: ["gb"]), "A", "B");
        await AssertSelectsAsync(new SearchFilter(Jurisdictions: ["US"]), "B", "C", "G");
        await AssertSelectsAsync(new SearchFilter(Jurisdictions: ["US-IL"]), "B", "C", "G");
        await AssertSelectsAsync(new SearchFilter(Jurisdictions: ["US-CA"]));
        await AssertSelectsAsync(new SearchFilter(Jurisdictions: ["DE", "GB"]), "A", "B", "D", "E", "G");
    }

    [SkippableFact]
    public async Task A_domain_selects_its_host_and_subdomains_on_source_or_page_urls_and_nothing_that_merely_ends_alike()
    {
        // A: img. and news. subdomains; B: the page; D: www. (upper case in the URL); F: trailing dot; G: via its copy.
        await AssertSelectsAsync(new SearchFilter(SourceDomains: ["example.com"]), "A", "B", "D", "F", "G");
        await AssertSelectsAsync(new SearchFilter(SourceDomains: ["img.example.com"]), "A");
        await AssertSelectsAsync(new SearchFilter(SourceDomains: ["badexample.com", "mirror.net"]), "B", "C");
        await AssertSelectsAsync(new SearchFilter(SourceDomains: ["com"]), "A", "B", "C", "D", "F", "G");
        await AssertSelectsAsync(new SearchFilter(SourceDomains: ["ample.com"]));
    }

    [SkippableFact]
    public async Task A_date_range_is_inclusive_and_photos_without_a_capture_date_never_pass_it()
    {
        await AssertSelectsAsync(
            new SearchFilter(CapturedFrom: Utc(2023, 1, 1), CapturedTo: Utc(2023, 12, 31, 23, 59, 59)), "A", "E", "F", "G");
        await AssertSelectsAsync(new SearchFilter(CapturedFrom: Utc(2024, 1, 1)), "D");
        await AssertSelectsAsync(new SearchFilter(CapturedTo: Utc(2022, 6, 15)), "B");
        await AssertSelectsAsync(
            new SearchFilter(CapturedFrom: new DateTimeOffset(2023, 3, 1, 2, 0, 0, TimeSpan.FromHours(2)), CapturedTo: Utc(2023, 3, 1)), "A");

        // C has no capture date: no range, however wide, selects it.
        var everything = await _catalog.ResolveAsync(new SearchFilter(CapturedFrom: DateTimeOffset.MinValue, CapturedTo: DateTimeOffset.MaxValue));
        Assert.DoesNotContain(_faces["C"][0], everything);
        Assert.Contains(_faces["A"][0], everything);
    }

    [SkippableFact]
    public async Task Criteria_combine_on_one_sighting()
    {
        await AssertSelectsAsync(
            new SearchFilter(["press"], SourceDomains: ["example.com"], CapturedFrom: Utc(2023, 1, 1), CapturedTo: Utc(2023, 12, 31)), "A");
        await AssertSelectsAsync(new SearchFilter(["press", "web"], SourceDomains: ["example.com"]), "A", "B", "D", "G");

        // B is in the archive (mirror.net) and on example.com (press), but no single sighting is both.
        await AssertSelectsAsync(new SearchFilter(["archive"], SourceDomains: ["example.com"]));
        await AssertSelectsAsync(new SearchFilter(Jurisdictions: ["US"], CapturedTo: Utc(2022, 1, 1)), "B");
    }

    [SkippableFact]
    public async Task An_empty_filter_resolves_to_every_face()
    {
        Assert.True((await _catalog.ResolveAsync(SearchFilter.None)).IsAll);
        Assert.True((await _catalog.ResolveAsync(new SearchFilter([], []))).IsAll);
    }

    [SkippableFact]
    public async Task An_unknown_collection_is_an_error_that_names_it()
    {
        var error = await Assert.ThrowsAsync<CatalogException>(() => _catalog.ResolveAsync(new SearchFilter(["press", "nope", "gone"])));
        Assert.Contains("'nope'", error.Message, StringComparison.Ordinal);
        Assert.Contains("'gone'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("'press'", error.Message, StringComparison.Ordinal);
        Assert.Contains("archive", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Invalid_values_are_refused_before_the_catalog_is_read()
    {
        await Assert.ThrowsAsync<FormatException>(() => _catalog.ResolveAsync(new SearchFilter(SourceDomains: ["https://example.com/x"])));
        await Assert.ThrowsAsync<ArgumentException>(() => _catalog.ResolveAsync(new SearchFilter(CapturedFrom: Utc(2024, 1, 1), CapturedTo: Utc(2023, 1, 1))));
    }

    [SkippableFact]
    public async Task New_sightings_store_their_reversed_hosts()
    {
        var (source, page) = await ReversedHostsAsync("https://img.example.com/a.jpg");
        Assert.Equal("com.example.img", source);
        Assert.Equal("com.example.news", page);
    }
}

public sealed class SqliteSearchFilterTests() : SearchFilterContract<SqliteCatalog>(new SqliteBackend())
{
    protected override async Task<(string? Source, string? Page)> ReversedHostsAsync(string sourceUrl)
    {
        await using var connection = new SqliteConnection($"Data Source={((SqliteBackend)Backend).DatabasePath};Pooling=False");
        await connection.OpenAsync();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT source_host_reversed, page_host_reversed FROM sightings WHERE source_url = $url";
        command.Parameters.AddWithValue("$url", sourceUrl);
        using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.IsDBNull(0) ? null : reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1));
    }

    [Fact]
    public async Task A_catalog_created_at_schema_2_gets_its_sighting_hosts_back_filled_on_upgrade()
    {
        // Next to the contract's catalog, in the backend's temporary directory.
        var path = Path.Combine(Path.GetDirectoryName(((SqliteBackend)Backend).DatabasePath)!, "v2.db");
        await using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await connection.OpenAsync();
            using var command = connection.CreateCommand();
            command.CommandText = $"""
                CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL);
                {Migrations.All.Single(m => m.Version == 1).Sql}
                {Migrations.All.Single(m => m.Version == 2).Sql}
                INSERT INTO schema_version VALUES (1, 'v1', '2026-01-01T00:00:00.0000000Z'), (2, 'v2', '2026-01-01T00:00:00.0000000Z');
                INSERT INTO collections(name, lawful_basis, jurisdiction, created_at) VALUES ('old', 'basis', 'FR', '2026-01-01T00:00:00.0000000Z');
                INSERT INTO images(collection_id, sha256, byte_length, format, width, height, source_url, page_url, added_at)
                VALUES (1, zeroblob(32), 10, 'jpeg', 4, 3, 'https://Photos.Old.Example/a.jpg', 'https://blog.test/post', '2026-01-01T00:00:00.0000000Z'),
                       (1, randomblob(32), 10, 'jpeg', 4, 3, '/local/file.jpg', NULL, '2026-01-01T00:00:00.0000000Z');
                INSERT INTO sightings(image_id, collection_id, source_url, page_url, seen_at)
                SELECT id, collection_id, source_url, page_url, added_at FROM images;
                INSERT INTO faces(image_id, x1, y1, x2, y2, left_eye_x, left_eye_y, right_eye_x, right_eye_y, nose_x, nose_y,
                                  mouth_left_x, mouth_left_y, mouth_right_x, mouth_right_y, detector_score, embedding, model_id)
                VALUES (1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.9, zeroblob(1024), '{TestData.Model}'),
                       (2, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.9, zeroblob(1024), '{TestData.Model}');
                """;
            await command.ExecuteNonQueryAsync();
        }

        await using var catalog = await SqliteCatalog.OpenAsync(path, TestData.Model);
        Assert.Equal(Migrations.LatestVersion, catalog.SchemaVersion);
        Assert.Equal([1L], await catalog.ResolveAsync(new SearchFilter(SourceDomains: ["old.example"])));
        Assert.Equal([1L], await catalog.ResolveAsync(new SearchFilter(SourceDomains: ["blog.test"])));
        Assert.Empty(await catalog.ResolveAsync(new SearchFilter(SourceDomains: ["file.jpg"])));

        await using var check = new SqliteConnection($"Data Source={path};Pooling=False");
        await check.OpenAsync();
        using var read = check.CreateCommand();
        read.CommandText = """
            SELECT group_concat(hosts, ';') FROM (
                SELECT coalesce(source_host_reversed, '-') || ' ' || coalesce(page_host_reversed, '-') AS hosts FROM sightings ORDER BY id)
            """;
        Assert.Equal("example.old.photos test.blog;- -", (string?)await read.ExecuteScalarAsync());
    }
}

public sealed class PostgresSearchFilterTests() : SearchFilterContract<PostgresCatalog>(new PostgresBackend())
{
    protected override async Task<(string? Source, string? Page)> ReversedHostsAsync(string sourceUrl)
    {
        await using var connection = new NpgsqlConnection(await ((PostgresBackend)Backend).ConnectionStringAsync());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT source_host_reversed, page_host_reversed FROM sightings WHERE source_url = @url", connection);
        command.Parameters.AddWithValue("url", sourceUrl);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.IsDBNull(0) ? null : reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1));
    }

    [Fact]
    public async Task A_domain_filter_is_a_byte_order_range_on_each_host_index()
    {
        // The ranges compare in byte order; a host index in the database's language collation could not serve them and
        // every domain filter would read all sightings. With sequential scans priced out, the plan shows whether the
        // ranges are index conditions.
        await using var connection = new NpgsqlConnection(await ((PostgresBackend)Backend).ConnectionStringAsync());
        await connection.OpenAsync();
        await using (var noSeqScan = new NpgsqlCommand("SET enable_seqscan = off", connection))
        {
            await noSeqScan.ExecuteNonQueryAsync();
        }

        await using var explain = new NpgsqlCommand(null, connection);
        explain.CommandText = "EXPLAIN " + PostgresCatalog.BuildFilterQuery(
            new SearchFilter(SourceDomains: ["example.com"]).Normalize(), explain.Parameters);
        explain.Parameters.AddWithValue("model", TestData.Model);
        var plan = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(0));
            }
        }

        var text = string.Join("\n", plan);
        Assert.Contains("Index Cond: ((source_host_reversed >= ", text, StringComparison.Ordinal);
        Assert.Contains("Index Cond: ((page_host_reversed >= ", text, StringComparison.Ordinal);
    }
}
