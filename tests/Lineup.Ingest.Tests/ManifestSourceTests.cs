using Lineup.Ingest.Sources;
using Lineup.TestSupport;

namespace Lineup.Ingest.Tests;

public sealed class ManifestSourceTests : IDisposable
{
    private readonly TempDirectory _dir = new("manifest");
    private readonly byte[] _jpegA = TestImages.Jpeg(64, 48);
    private readonly byte[] _jpegB = TestImages.Jpeg(48, 64, quality: 70);
    private readonly byte[] _png = TestImages.Png(16, 16);

    public ManifestSourceTests()
    {
        Directory.CreateDirectory(_dir.Combine("photos", "2024"));
        File.WriteAllBytes(_dir.Combine("photos", "a.jpg"), _jpegA);
        File.WriteAllBytes(_dir.Combine("photos", "2024", "b.jpg"), _jpegB);
        File.WriteAllBytes(_dir.Combine("c.png"), _png);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Csv_rows_become_items_with_relative_absolute_and_file_uri_paths_and_every_provenance_field()
    {
        var absolute = _dir.Combine("photos", "2024", "b.jpg");
        var uri = new Uri(_dir.Combine("c.png")).AbsoluteUri;
        var manifest = Write(
            "manifest.csv",
            "Path,source_url,page_url,captured_at,fetched_at,licence,record_id,camera",
            "photos/a.jpg,https://example.org/a.jpg,https://example.org/page?id=1,2024-03-01T10:20:30+02:00,2024-05-01T08:00:00Z,CC-BY-4.0,rec-1,Nikon",
            "",
            $"{absolute},http://example.org/b.jpg,,2024-03-02 11:00:00,2024-05-02,\"case 12, warrant 7\",rec-2,",
            $"{uri},,,2024-03-03,,,,");

        var source = new ManifestSource(manifest, SourceLimits.Default);
        var items = await ReadAllAsync(source);

        Assert.Equal("manifest", source.Kind);
        Assert.Equal(manifest, source.Description);
        Assert.Equal(["manifest.csv:2", "manifest.csv:4", "manifest.csv:5"], items.Select(i => i.Item.Name));
        Assert.Equal([_jpegA, _jpegB, _png], items.Select(i => i.Bytes!));
        Assert.Equal(3, await source.CountAsync(default));

        var first = items[0].Item.Provenance;
        Assert.Equal(_dir.Combine("photos", "a.jpg"), first.OriginalPath);
        Assert.Equal("https://example.org/a.jpg", first.SourceUrl);
        Assert.Equal("https://example.org/page?id=1", first.PageUrl);
        Assert.Equal(new DateTimeOffset(2024, 3, 1, 10, 20, 30, TimeSpan.FromHours(2)), first.CapturedAt);
        Assert.Equal(new DateTimeOffset(2024, 5, 1, 8, 0, 0, TimeSpan.Zero), first.FetchedAt);
        Assert.Equal("CC-BY-4.0", first.Licence);
        Assert.Equal("rec-1", first.RecordId);

        var second = items[1].Item.Provenance;
        Assert.Equal(absolute, second.OriginalPath);
        Assert.Null(second.PageUrl);
        Assert.Equal(new DateTimeOffset(2024, 3, 2, 11, 0, 0, TimeSpan.Zero), second.CapturedAt);
        Assert.Equal(new DateTimeOffset(2024, 5, 2, 0, 0, 0, TimeSpan.Zero), second.FetchedAt);
        Assert.Equal("case 12, warrant 7", second.Licence);

        var third = items[2].Item.Provenance;
        Assert.Equal(_dir.Combine("c.png"), third.OriginalPath);
        Assert.Equal(new DateTimeOffset(2024, 3, 3, 0, 0, 0, TimeSpan.Zero), third.CapturedAt);
        Assert.Null(third.SourceUrl);
        Assert.Null(third.Licence);
    }

    [Fact]
    public async Task Json_lines_become_items_with_aliases_and_unknown_fields_ignored()
    {
        var absolute = _dir.Combine("photos", "2024", "b.jpg");
        var uri = new Uri(_dir.Combine("c.png")).AbsoluteUri;
        var manifest = Write(
            "list.jsonl",
            """{"path": "photos/a.jpg", "source_url": "https://example.org/a.jpg", "page_url": "https://example.org/p", "captured_at": "2024-03-01T10:20:30.250Z", "fetched_at": "2024-05-01", "license": "CC0", "record_id": 17, "extra": {"x": [1, 2]}}""",
            "   ",
            $$"""{"File": "{{absolute}}", "Lawful_Basis": "public interest", "CapturedAt": "2024-03-02T11:00"}""",
            $$"""{"path": "{{uri}}", "note": "seized drive 4", "source_url": null}""");

        var source = new ManifestSource(manifest, SourceLimits.Default);
        var items = await ReadAllAsync(source);

        Assert.Equal(["list.jsonl:1", "list.jsonl:3", "list.jsonl:4"], items.Select(i => i.Item.Name));
        Assert.Equal([_jpegA, _jpegB, _png], items.Select(i => i.Bytes!));
        Assert.Equal(3, await source.CountAsync(default));

        var first = items[0].Item.Provenance;
        Assert.Equal(_dir.Combine("photos", "a.jpg"), first.OriginalPath);
        Assert.Equal("https://example.org/a.jpg", first.SourceUrl);
        Assert.Equal("https://example.org/p", first.PageUrl);
        Assert.Equal(new DateTimeOffset(2024, 3, 1, 10, 20, 30, 250, TimeSpan.Zero), first.CapturedAt);
        Assert.Equal(new DateTimeOffset(2024, 5, 1, 0, 0, 0, TimeSpan.Zero), first.FetchedAt);
        Assert.Equal("CC0", first.Licence);
        Assert.Equal("17", first.RecordId);

        Assert.Equal(absolute, items[1].Item.Provenance.OriginalPath);
        Assert.Equal("public interest", items[1].Item.Provenance.Licence);
        Assert.Equal(new DateTimeOffset(2024, 3, 2, 11, 0, 0, TimeSpan.Zero), items[1].Item.Provenance.CapturedAt);
        Assert.Equal("seized drive 4", items[2].Item.Provenance.Licence);
        Assert.Null(items[2].Item.Provenance.SourceUrl);
    }

    [Theory]
    [InlineData("\n  {\"path\": \"c.png\"}", "list.txt:2")]
    [InlineData("\npath\nc.png", "list.txt:3")]
    public async Task Without_a_known_extension_the_format_is_told_by_the_first_non_blank_character(string content, string name)
    {
        var manifest = Write("list.txt", content);

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        Assert.Equal(name, Assert.Single(items).Item.Name);
        Assert.Equal(_png, items[0].Bytes);
    }

    [Fact]
    public async Task A_quoted_field_spanning_lines_is_one_row_named_by_its_first_line()
    {
        var manifest = Write("manifest.csv", "path,note", "photos/a.jpg,\"line one", "line two\"", "c.png,x");

        var source = new ManifestSource(manifest, SourceLimits.Default);
        var items = await ReadAllAsync(source);

        Assert.Equal(["manifest.csv:2", "manifest.csv:4"], items.Select(i => i.Item.Name));
        Assert.Equal("line one\nline two", items[0].Item.Provenance.Licence);
        Assert.Equal(2, await source.CountAsync(default));
    }

    [Fact]
    public async Task A_header_without_a_path_column_is_a_source_error_naming_the_manifest()
    {
        var manifest = Write("manifest.csv", "name,source_url", "a.jpg,https://example.org/a.jpg");
        var source = new ManifestSource(manifest, SourceLimits.Default);

        var read = await Assert.ThrowsAsync<IngestSourceException>(() => ReadAllAsync(source));
        var count = await Assert.ThrowsAsync<IngestSourceException>(() => source.CountAsync(default));

        Assert.Equal($"{manifest}: the header row has no 'path' (or 'file') column.", read.Message);
        Assert.Equal(read.Message, count.Message);
    }

    [Fact]
    public async Task An_empty_csv_manifest_is_a_source_error_naming_it()
    {
        var manifest = Write("manifest.csv", "", "");

        var e = await Assert.ThrowsAsync<IngestSourceException>(() => ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default)));

        Assert.Equal($"{manifest}: empty, expected a header row.", e.Message);
    }

    [Fact]
    public async Task A_missing_manifest_is_a_source_error_naming_it()
    {
        var manifest = _dir.Combine("nothing.jsonl");

        var e = await Assert.ThrowsAsync<IngestSourceException>(() => ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default)));

        Assert.Equal($"{manifest}: no such file.", e.Message);
    }

    [Fact]
    public async Task An_unterminated_quote_fails_its_row_and_the_rows_after_it_come_through()
    {
        var manifest = Write("manifest.csv", "path,note", "photos/a.jpg,ok", "c.png,\"never closed", "photos/2024/b.jpg,ok", "c.png,ok");

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        Assert.Equal(["manifest.csv:2", "manifest.csv:3", "manifest.csv:4", "manifest.csv:5"], items.Select(i => i.Item.Name));
        AssertFailed(items[1], "manifest.csv:3: malformed CSV record: a quoted field is not closed.");
        Assert.Equal(_jpegB, items[2].Bytes);
        Assert.Equal(_png, items[3].Bytes);
    }

    [Fact]
    public async Task A_row_with_more_fields_than_the_header_fails_and_the_rest_comes_through()
    {
        var manifest = Write("manifest.csv", "path,note", "photos/a.jpg,x,surplus", "c.png,ok");

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        AssertFailed(items[0], "manifest.csv:2: malformed CSV record: 3 fields but the header has 2.");
        Assert.Equal(_png, items[1].Bytes);
    }

    [Fact]
    public async Task Invalid_json_on_a_line_fails_that_line_and_the_rest_comes_through()
    {
        var manifest = Write("list.jsonl", """{"path": "c.png"}""", """{"path": "photos/a.jpg", """, """{"path": "photos/2024/b.jpg"}""");

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        Assert.Equal(3, items.Count);
        var failed = Assert.IsType<IngestItemFailedException>(items[1].Error);
        Assert.StartsWith("list.jsonl:2: not valid JSON: ", failed.Message, StringComparison.Ordinal);
        Assert.Equal(_jpegB, items[2].Bytes);
    }

    [Fact]
    public async Task A_json_line_that_is_not_an_object_fails_and_the_rest_comes_through()
    {
        var manifest = Write("list.ndjson", """["c.png"]""", """{"path": "c.png"}""");

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        AssertFailed(items[0], "list.ndjson:1: not a JSON object (found a JSON array).");
        Assert.Equal(_png, items[1].Bytes);
    }

    [Theory]
    [InlineData("captured_at", "2024-13-45")]
    [InlineData("captured_at", "01/02/2024")]
    [InlineData("fetched_at", "yesterday")]
    public async Task A_bad_date_fails_its_row_and_the_rest_comes_through(string column, string value)
    {
        var manifest = Write("manifest.csv", $"path,{column}", $"photos/a.jpg,{value}", "c.png,2024-01-01");

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        AssertFailed(items[0], $"manifest.csv:2: {column} '{value}' is not an ISO 8601 date or date-time.");
        Assert.Equal(_png, items[1].Bytes);
    }

    [Theory]
    [InlineData("manifest.csv", "path,note\n,empty\n   ,blank\nc.png,ok\n")]
    [InlineData("list.jsonl", "{\"path\": \"\"}\n{\"note\": \"no path\"}\n{\"path\": \"c.png\"}\n")]
    public async Task An_empty_path_fails_its_row_and_the_rest_comes_through(string fileName, string content)
    {
        var manifest = _dir.Combine(fileName);
        File.WriteAllText(manifest, content);
        var first = fileName.EndsWith(".csv", StringComparison.Ordinal) ? 2 : 1;

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        Assert.Equal(3, items.Count);
        AssertFailed(items[0], $"{fileName}:{first}: empty path.");
        AssertFailed(items[1], $"{fileName}:{first + 1}: empty path.");
        Assert.Equal(_png, items[2].Bytes);
    }

    [Fact]
    public async Task A_row_pointing_to_a_missing_file_fails_with_its_line_and_path()
    {
        var manifest = Write("manifest.csv", "path", "c.png", "", "photos/a.jpg", "", "", "photos/missing.jpg", "photos/2024/b.jpg");

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        Assert.Equal(["manifest.csv:2", "manifest.csv:4", "manifest.csv:7", "manifest.csv:8"], items.Select(i => i.Item.Name));
        AssertFailed(items[2], "manifest.csv:7: photos/missing.jpg: no such file.");
        Assert.Equal(_dir.Combine("photos", "missing.jpg"), items[2].Item.Provenance.OriginalPath);
        Assert.Equal(_jpegB, items[3].Bytes);
    }

    [Fact]
    public async Task A_row_pointing_to_a_folder_or_an_empty_file_fails_with_its_line()
    {
        File.WriteAllBytes(_dir.Combine("empty.jpg"), []);
        var manifest = Write("manifest.csv", "path", "photos", "empty.jpg", "c.png");

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        AssertFailed(items[0], "manifest.csv:2: photos: a folder, not a file.");
        AssertFailed(items[1], "manifest.csv:3: empty.jpg: empty, or not a regular file.");
        Assert.Equal(_png, items[2].Bytes);
    }

    [Fact]
    public async Task A_file_over_the_item_limit_is_refused_with_its_line()
    {
        var manifest = Write("manifest.csv", "path", "photos/a.jpg", "c.png");
        var limits = new SourceLimits { MaxItemBytes = _png.Length };

        var items = await ReadAllAsync(new ManifestSource(manifest, limits));

        var refused = Assert.IsType<IngestItemRefusedException>(items[0].Error);
        Assert.Equal($"manifest.csv:2: photos/a.jpg: {_jpegA.Length:N0} bytes is over the {_png.Length:N0}-byte limit.", refused.Message);
        Assert.Equal(_png, items[1].Bytes);
    }

    [Theory]
    [InlineData("source_url", "ftp://example.org/a.jpg")]
    [InlineData("source_url", "example.org/a.jpg")]
    [InlineData("page_url", "/pages/1")]
    [InlineData("page_url", "javascript:alert(1)")]
    public async Task A_url_that_is_not_absolute_http_fails_its_row_and_the_rest_comes_through(string column, string value)
    {
        var manifest = Write("manifest.csv", $"path,{column}", $"photos/a.jpg,{value}", "c.png,https://example.org/ok");

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        AssertFailed(items[0], $"manifest.csv:2: {column} '{value}' is not an absolute http(s) URL.");
        Assert.Equal(_png, items[1].Bytes);
    }

    [Theory]
    [InlineData("https://example.org/a.jpg")]
    [InlineData("HTTP://example.org/a.jpg")]
    public async Task A_web_address_as_path_is_refused_because_lineup_never_fetches_from_the_web(string value)
    {
        var manifest = Write("list.jsonl", $$"""{"path": "{{value}}"}""", """{"path": "c.png"}""");

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        var refused = Assert.IsType<IngestItemRefusedException>(items[0].Error);
        Assert.StartsWith($"list.jsonl:1: {value}: a web address; Lineup never fetches from the web", refused.Message, StringComparison.Ordinal);
        Assert.Equal(_png, items[1].Bytes);
    }

    [Fact]
    public async Task A_file_uri_with_a_remote_host_fails_its_row()
    {
        var manifest = Write("manifest.csv", "path", "file://server/share/a.jpg", "c.png");

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        AssertFailed(items[0], "manifest.csv:2: file://server/share/a.jpg: not a local file: URI.");
        Assert.Equal(_png, items[1].Bytes);
    }

    [Fact]
    public async Task A_json_line_longer_than_the_limit_fails_alone()
    {
        var manifest = _dir.Combine("list.jsonl");
        File.WriteAllText(manifest, "{\"path\": \"" + new string('x', ManifestSource.MaxRecordChars) + "\"}\n{\"path\": \"c.png\"}\n");

        var items = await ReadAllAsync(new ManifestSource(manifest, SourceLimits.Default));

        AssertFailed(items[0], $"list.jsonl:1: the line is longer than {ManifestSource.MaxRecordChars:N0} characters.");
        Assert.Equal(_png, items[1].Bytes);
    }

    [Fact]
    public async Task Files_are_read_only_when_their_item_is()
    {
        var manifest = Write("manifest.csv", "path", "late.jpg");
        var source = new ManifestSource(manifest, SourceLimits.Default);

        var item = Assert.Single(await ToListAsync(source));
        File.WriteAllBytes(_dir.Combine("late.jpg"), _jpegA);

        Assert.Equal(_jpegA, await item.ReadAsync(default));
    }

    private sealed record Outcome(IngestItem Item, byte[]? Bytes, Exception? Error);

    private static async Task<List<Outcome>> ReadAllAsync(IIngestSource source)
    {
        var outcomes = new List<Outcome>();
        foreach (var item in await ToListAsync(source))
        {
            try
            {
                outcomes.Add(new Outcome(item, await item.ReadAsync(default), null));
            }
            catch (Exception e) when (e is IngestItemFailedException or IngestItemRefusedException)
            {
                outcomes.Add(new Outcome(item, null, e));
            }
        }

        return outcomes;
    }

    private static async Task<List<IngestItem>> ToListAsync(IIngestSource source)
    {
        var items = new List<IngestItem>();
        await foreach (var item in source.ReadAsync(default))
        {
            items.Add(item);
        }

        return items;
    }

    private static void AssertFailed(Outcome outcome, string message)
    {
        var failed = Assert.IsType<IngestItemFailedException>(outcome.Error);
        Assert.Equal(message, failed.Message);
    }

    private string Write(string fileName, params string[] lines)
    {
        var path = _dir.Combine(fileName);
        File.WriteAllText(path, string.Join("\n", lines) + "\n");
        return path;
    }
}

public sealed class CsvRecordStreamTests
{
    [Fact]
    public void Records_carry_the_line_they_start_on_and_a_runaway_quote_costs_one_record()
    {
        var text = "path,note\r\na.jpg,\"two\r\nlines\"\r\n\r\nb.jpg,\"open\r\nc.jpg,x\r\nd.jpg,y";

        var records = CsvReader.ReadRecords(new StringReader(text)).ToList();

        Assert.Equal([1, 2, 4, 5, 6, 7], records.Select(r => r.Line));
        Assert.Equal(["a.jpg", "two\r\nlines"], records[1].Fields);
        Assert.True(records[2].IsBlank);
        Assert.Equal("a quoted field is not closed.", records[3].Error);
        Assert.Equal(["c.jpg", "x"], records[4].Fields);
        Assert.Equal(["d.jpg", "y"], records[5].Fields);
    }

    [Fact]
    public void A_record_over_the_length_limit_is_an_error_and_reading_resumes_on_the_next_line()
    {
        var text = "a,b\n" + new string('x', 100) + "\n\"" + new string('y', 50) + "\nc,d\n";

        var records = CsvReader.ReadRecords(new StringReader(text), maxRecordChars: 40).ToList();

        Assert.Equal([1, 2, 3, 4], records.Select(r => r.Line));
        Assert.Equal("the record is longer than 40 characters.", records[1].Error);
        Assert.Equal("the record is longer than 40 characters (a quoted field is not closed?).", records[2].Error);
        Assert.Equal(["c", "d"], records[3].Fields);
    }
}
