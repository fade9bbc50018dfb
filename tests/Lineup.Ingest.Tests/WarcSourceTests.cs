using System.IO.Compression;
using System.Text;
using Lineup.Ingest.Sources;
using Lineup.TestSupport;

namespace Lineup.Ingest.Tests;

public sealed class WarcSourceTests
{
    private static readonly byte[] s_jpeg = TestImages.Jpeg(24, 16);
    private static readonly byte[] s_png = TestImages.Png(8, 8);

    [Theory]
    [InlineData(WarcLayout.Plain)]
    [InlineData(WarcLayout.GzipPerRecord)]
    [InlineData(WarcLayout.GzipWhole)]
    public async Task An_image_response_becomes_an_item_named_by_its_record_location_with_its_provenance(WarcLayout layout)
    {
        using var dir = new TempDirectory("warc");
        var writer = new WarcTestWriter()
            .Warcinfo()
            .Request("http://example.com/a.jpg")
            .Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg)
            .Ok("http://example.com/b.png", "image/png", s_png);
        var (path, offsets) = writer.Save(dir.File(layout == WarcLayout.Plain ? "crawl.warc" : "crawl.warc.gz"), layout);

        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        Assert.Equal(2, items.Count);
        Assert.Equal(WarcTestWriter.ItemName(path, layout, offsets, 2), items[0].Name);
        Assert.Equal(WarcTestWriter.ItemName(path, layout, offsets, 3), items[1].Name);
        Assert.Equal(s_jpeg, await items[0].ReadAsync(default));
        Assert.Equal(s_png, await items[1].ReadAsync(default));
        var provenance = items[0].Provenance;
        Assert.Equal("http://example.com/a.jpg", provenance.SourceUrl);
        Assert.Equal(new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero), provenance.FetchedAt);
        Assert.StartsWith("<urn:uuid:", provenance.RecordId, StringComparison.Ordinal);
        Assert.Equal($"{path}@{items[0].Name.Split('@')[1]}", provenance.OriginalPath);
        Assert.Null(provenance.PageUrl);
    }

    [Fact]
    public async Task Names_are_stable_across_reads_and_the_count_matches_the_items()
    {
        using var dir = new TempDirectory("warc");
        var writer = new WarcTestWriter().Warcinfo();
        for (var i = 0; i < 5; i++)
        {
            writer.Ok($"http://example.com/{i}.jpg", "image/jpeg", s_jpeg).Page($"http://example.com/{i}.html", $"<img src='{i}.jpg'>");
        }

        var (path, _) = writer.Save(dir.File("crawl.warc.gz"), WarcLayout.GzipPerRecord);
        var first = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));
        var source = new WarcSource(path, SourceLimits.Default);
        Assert.Equal(5, await source.CountAsync(default));
        var second = await ReadAllAsync(source);

        Assert.Equal(first.Select(i => i.Name), second.Select(i => i.Name));
        Assert.Equal(5, first.Select(i => i.Name).Distinct().Count());
        Assert.Equal("warc", source.Kind);
        Assert.Equal(path, source.Description);
    }

    [Fact]
    public async Task An_image_resource_record_is_an_item_whose_block_is_the_payload()
    {
        using var dir = new TempDirectory("warc");
        var (path, _) = new WarcTestWriter()
            .Record("resource", "file:///photos/a.png", s_png, "image/png")
            .Record("resource", "urn:x-notes:1", "just text"u8.ToArray(), "text/plain")
            .Save(dir.File("r.warc"), WarcLayout.Plain);

        var item = Assert.Single(await ReadAllAsync(new WarcSource(path, SourceLimits.Default)));

        Assert.Equal(s_png, await item.ReadAsync(default));
        Assert.Equal("file:///photos/a.png", item.Provenance.SourceUrl);
    }

    [Fact]
    public async Task A_chunked_and_gzip_encoded_response_is_dechunked_and_decompressed()
    {
        using var dir = new TempDirectory("warc");
        var body = WarcTestWriter.Chunked(WarcTestWriter.Gzip(s_jpeg), 100);
        var deflated = new MemoryStream();
        using (var zlib = new ZLibStream(deflated, CompressionLevel.Fastest, leaveOpen: true))
        {
            zlib.Write(s_png);
        }

        var brotli = new MemoryStream();
        using (var br = new BrotliStream(brotli, CompressionLevel.Fastest, leaveOpen: true))
        {
            br.Write(s_png);
        }

        var (path, _) = new WarcTestWriter()
            .Response("http://example.com/a.jpg", WarcTestWriter.Http(200, "OK",
                [("Content-Type", "image/jpeg"), ("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")], body))
            .Response("http://example.com/b.png", WarcTestWriter.Http(200, "OK",
                [("Content-Type", "image/png"), ("Content-Encoding", "deflate")], deflated.ToArray()))
            .Response("http://example.com/c.png", WarcTestWriter.Http(200, "OK",
                [("Content-Type", "image/png"), ("content-encoding", "br")], brotli.ToArray()))
            .Response("http://example.com/d.jpg", WarcTestWriter.Http(200, "OK",
                [("Content-Type", "image/jpeg"), ("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")], s_jpeg))
            .Save(dir.File("enc.warc.gz"), WarcLayout.GzipPerRecord);

        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        Assert.Equal(s_jpeg, await items[0].ReadAsync(default));
        Assert.Equal(s_png, await items[1].ReadAsync(default));
        Assert.Equal(s_png, await items[2].ReadAsync(default));

        // A writer that stored the body decoded but kept the coding headers: the bytes are taken as they are.
        Assert.Equal(s_jpeg, await items[3].ReadAsync(default));
    }

    [Fact]
    public async Task Header_field_names_are_case_insensitive_continuation_lines_extend_values_and_bracketed_uris_are_unwrapped()
    {
        using var dir = new TempDirectory("warc");
        var http = WarcTestWriter.Http(200, "OK", [("content-type", "image/jpeg;"), ("\tquality", "1")], s_jpeg);
        var block = Encoding.ASCII.GetBytes(
            $"WARC/1.0\r\nwarc-type: response\r\nWARC-TARGET-URI: <http://example.com/photos/\r\n a.jpg>\r\nwarc-date: 2024-05-06T07:08:09.123456Z\r\n"
            + $"warc-record-id: <urn:uuid:00000000-0000-0000-0000-000000000001>\r\ncontent-TYPE: application/http;\r\n msgtype=response\r\ncontent-length: {http.Length}\r\n\r\n");
        var path = dir.File("case.warc");
        await File.WriteAllBytesAsync(path, [.. block, .. http, .. "\r\n\r\n"u8]);

        var item = Assert.Single(await ReadAllAsync(new WarcSource(path, SourceLimits.Default)));

        Assert.Equal("http://example.com/photos/a.jpg", item.Provenance.SourceUrl);
        Assert.Equal("<urn:uuid:00000000-0000-0000-0000-000000000001>", item.Provenance.RecordId);
        Assert.Equal(new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero).AddTicks(1234560), item.Provenance.FetchedAt);
        Assert.Equal(s_jpeg, await item.ReadAsync(default));
    }

    [Fact]
    public async Task Redirects_errors_and_records_other_than_responses_and_resources_yield_nothing()
    {
        using var dir = new TempDirectory("warc");
        var (path, _) = new WarcTestWriter()
            .Warcinfo()
            .Request("http://example.com/old.jpg")
            .Response("http://example.com/old.jpg", WarcTestWriter.Http(301, "Moved", [("Location", "/new.jpg"), ("Content-Type", "image/jpeg")], s_jpeg))
            .Response("http://example.com/gone.jpg", WarcTestWriter.Http(404, "Not Found", [("Content-Type", "image/jpeg")], s_jpeg))
            .Record("revisit", "http://example.com/new.jpg", WarcTestWriter.Http(200, "OK", [("Content-Type", "image/jpeg")], []), "application/http; msgtype=response")
            .Record("metadata", "http://example.com/new.jpg", s_jpeg, "image/jpeg")
            .Ok("http://example.com/style.css", "text/css", "body{}"u8.ToArray())
            .Ok("http://example.com/blob", "application/octet-stream", "not an image"u8.ToArray())
            .Save(dir.File("none.warc"), WarcLayout.Plain);

        var source = new WarcSource(path, SourceLimits.Default);
        Assert.Empty(await ReadAllAsync(source));
        Assert.Equal(0, await source.CountAsync(default));
    }

    [Fact]
    public async Task An_untyped_or_octet_stream_payload_is_an_image_when_its_bytes_start_with_an_image_signature()
    {
        using var dir = new TempDirectory("warc");
        var (path, _) = new WarcTestWriter()
            .Ok("http://example.com/a", "application/octet-stream", s_jpeg)
            .Response("http://example.com/b", WarcTestWriter.Http(200, "OK", [], s_png))
            .Response("http://example.com/c", WarcTestWriter.Http(200, "OK", [], TestImages.Gif1x1Red()))
            .Response("http://example.com/d", WarcTestWriter.Http(200, "OK", [], TestImages.Bmp2x1()))
            .Response("http://example.com/e", WarcTestWriter.Http(200, "OK", [], "BMW is a car"u8.ToArray()))
            .Save(dir.File("sniff.warc"), WarcLayout.Plain);

        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        Assert.Equal(["http://example.com/a", "http://example.com/b", "http://example.com/c", "http://example.com/d"], items.Select(i => i.Provenance.SourceUrl));
        Assert.Equal(TestImages.Bmp2x1(), await items[3].ReadAsync(default));
    }

    [Fact]
    public async Task A_payload_typed_as_an_image_is_yielded_even_when_it_is_not_one_so_that_the_decoder_refuses_it_by_name()
    {
        using var dir = new TempDirectory("warc");
        var (path, offsets) = new WarcTestWriter()
            .Ok("http://example.com/fake.jpg", "image/jpeg", "<html>an error page</html>"u8.ToArray())
            .Save(dir.File("fake.warc"), WarcLayout.Plain);

        var item = Assert.Single(await ReadAllAsync(new WarcSource(path, SourceLimits.Default)));

        Assert.Equal($"fake.warc@{offsets[0]}", item.Name);
        Assert.Equal("<html>an error page</html>"u8.ToArray(), await item.ReadAsync(default));
    }

    [Fact]
    public async Task A_relative_img_src_links_the_image_to_its_page()
    {
        using var dir = new TempDirectory("warc");
        var (path, _) = new WarcTestWriter()
            .Page("http://Example.com:80/people/index.html", "<html><body><img src='../photos/a.jpg#top'></body></html>")
            .Ok("http://example.com/photos/a.jpg", "image/jpeg", s_jpeg)
            .Save(dir.File("page.warc"), WarcLayout.Plain);

        var item = Assert.Single(await ReadAllAsync(new WarcSource(path, SourceLimits.Default)));

        Assert.Equal("http://example.com/people/index.html", item.Provenance.PageUrl);
        Assert.Null(item.Provenance.OtherPageUrls);
    }

    [Fact]
    public async Task Srcset_candidates_with_descriptors_picture_sources_and_lazy_data_src_are_links()
    {
        using var dir = new TempDirectory("warc");
        const string html = """
            <img src="small.jpg" srcset="medium.jpg 640w, large.jpg?crop=1,2 1280w,wide.jpg 2x">
            <picture><source srcset="p.webp 1x, p2.webp 2x" type="image/webp"><img src="p.jpg"></picture>
            <img data-src="lazy.jpg" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
            """;
        var writer = new WarcTestWriter().Page("https://example.com/g/", html);
        string[] names = ["small.jpg", "medium.jpg", "large.jpg?crop=1,2", "wide.jpg", "p.webp", "p2.webp", "p.jpg", "lazy.jpg"];
        foreach (var name in names)
        {
            writer.Ok($"https://example.com/g/{name}", "image/jpeg", s_jpeg);
        }

        var (path, _) = writer.Save(dir.File("srcset.warc"), WarcLayout.Plain);
        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        Assert.Equal(names.Length, items.Count);
        Assert.All(items, i => Assert.Equal("https://example.com/g/", i.Provenance.PageUrl));
    }

    [Fact]
    public async Task Links_are_read_against_the_base_href()
    {
        using var dir = new TempDirectory("warc");
        var (path, _) = new WarcTestWriter()
            .Page("http://example.com/a/page.html", "<head><base href='http://cdn.example.com/img/'></head><img src='x.jpg'><img src='/root.jpg'>")
            .Ok("http://cdn.example.com/img/x.jpg", "image/jpeg", s_jpeg)
            .Ok("http://cdn.example.com/root.jpg", "image/jpeg", s_jpeg)
            .Ok("http://example.com/a/x.jpg", "image/jpeg", s_jpeg)
            .Save(dir.File("base.warc"), WarcLayout.Plain);

        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        Assert.Equal("http://example.com/a/page.html", items[0].Provenance.PageUrl);
        Assert.Equal("http://example.com/a/page.html", items[1].Provenance.PageUrl);
        Assert.Null(items[2].Provenance.PageUrl);
    }

    [Fact]
    public async Task A_page_written_after_its_image_still_links_it()
    {
        using var dir = new TempDirectory("warc");
        var (path, _) = new WarcTestWriter()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg)
            .Page("http://example.com/", "<img src=a.jpg>")
            .Save(dir.File("late.warc.gz"), WarcLayout.GzipPerRecord);

        var item = Assert.Single(await ReadAllAsync(new WarcSource(path, SourceLimits.Default)));

        Assert.Equal("http://example.com/", item.Provenance.PageUrl);
    }

    [Fact]
    public async Task An_image_embedded_by_two_pages_names_the_first_as_its_page_and_the_other_as_a_further_page()
    {
        using var dir = new TempDirectory("warc");
        var (path, _) = new WarcTestWriter()
            .Page("http://example.com/one.html", "<img src=/shared.jpg><img src=/shared.jpg>")
            .Ok("http://example.com/shared.jpg", "image/jpeg", s_jpeg)
            .Page("http://example.com/two.html", "<img src='http://EXAMPLE.com:80/shared.jpg'>")
            .Page("http://example.com/one.html", "<img src=/shared.jpg>")
            .Save(dir.File("two.warc"), WarcLayout.Plain);

        var item = Assert.Single(await ReadAllAsync(new WarcSource(path, SourceLimits.Default)));

        Assert.Equal("http://example.com/one.html", item.Provenance.PageUrl);
        Assert.Equal(["http://example.com/two.html"], item.Provenance.OtherPageUrls);
    }

    [Fact]
    public async Task An_image_reached_through_a_redirect_is_linked_to_the_page_that_names_the_redirecting_url()
    {
        using var dir = new TempDirectory("warc");
        var (path, _) = new WarcTestWriter()
            .Page("http://example.com/", "<img src=/photo>")
            .Response("http://example.com/photo", WarcTestWriter.Http(302, "Found", [("Location", "https://cdn.example.com/photo.jpg")], []))
            .Ok("https://cdn.example.com/photo.jpg", "image/jpeg", s_jpeg)
            .Save(dir.File("redirect.warc"), WarcLayout.Plain);

        var item = Assert.Single(await ReadAllAsync(new WarcSource(path, SourceLimits.Default)));

        Assert.Equal("http://example.com/", item.Provenance.PageUrl);
    }

    [Theory]
    [InlineData("text/html; charset=windows-1252", "")]
    [InlineData("text/html", "<meta charset=\"windows-1252\">")]
    public async Task The_page_charset_is_honoured_when_links_are_resolved(string contentType, string meta)
    {
        using var dir = new TempDirectory("warc");
        var html = Encoding.Latin1.GetBytes($"<html><head>{meta}</head><body><img src=\"caf\u00e9.jpg\"></body></html>");
        var (path, _) = new WarcTestWriter()
            .Ok("http://example.com/", contentType, html)
            .Ok("http://example.com/caf%C3%A9.jpg", "image/jpeg", s_jpeg)
            .Save(dir.File("charset.warc"), WarcLayout.Plain);

        var item = Assert.Single(await ReadAllAsync(new WarcSource(path, SourceLimits.Default)));

        Assert.Equal("http://example.com/", item.Provenance.PageUrl);
    }

    [Fact]
    public async Task A_payload_over_the_item_budget_is_refused_by_name_and_the_next_record_is_still_read()
    {
        using var dir = new TempDirectory("warc");
        var big = new byte[5000];
        s_jpeg.CopyTo(big, 0);
        var (path, offsets) = new WarcTestWriter()
            .Ok("http://example.com/big.jpg", "image/jpeg", big)
            .Response("http://example.com/big-gz.jpg", WarcTestWriter.Http(200, "OK", [("Content-Type", "image/jpeg"), ("Content-Encoding", "gzip")], WarcTestWriter.Gzip(big)))
            .Ok("http://example.com/ok.png", "image/png", s_png)
            .Save(dir.File("budget.warc.gz"), WarcLayout.GzipPerRecord);

        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default with { MaxItemBytes = 4096 }));

        Assert.Equal(3, items.Count);
        foreach (var (item, index) in items.Take(2).Select((item, index) => (item, index)))
        {
            var refused = await Assert.ThrowsAsync<IngestItemRefusedException>(async () => await item.ReadAsync(default));
            Assert.Contains($"budget.warc.gz@{offsets[index]}", refused.Message, StringComparison.Ordinal);
            Assert.Contains("4,096-byte limit", refused.Message, StringComparison.Ordinal);
        }

        Assert.Equal(s_png, await items[2].ReadAsync(default));
    }

    [Fact]
    public async Task A_content_length_that_is_too_short_fails_its_record_by_location_and_reading_resynchronises()
    {
        using var dir = new TempDirectory("warc");
        var (path, offsets) = new WarcTestWriter()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg, o => o.ContentLength = "100")
            .Ok("http://example.com/b.png", "image/png", s_png)
            .Save(dir.File("short.warc"), WarcLayout.Plain);

        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        Assert.Equal(2, items.Count);
        var failure = await FailureAsync(items[0]);
        Assert.Contains($"short.warc@{offsets[0]}", failure, StringComparison.Ordinal);
        Assert.Contains("not CRLF CRLF", failure, StringComparison.Ordinal);
        Assert.Contains($"resumes at the next record, short.warc@{offsets[1]}", failure, StringComparison.Ordinal);
        Assert.Equal(s_png, await items[1].ReadAsync(default));
    }

    [Fact]
    public async Task A_content_length_that_is_too_long_fails_its_record_by_location()
    {
        using var dir = new TempDirectory("warc");
        var (path, offsets) = new WarcTestWriter()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg, o => o.ContentLength = (s_jpeg.Length + 200).ToString())
            .Ok("http://example.com/swallowed.png", "image/png", s_png)
            .Ok("http://example.com/c.png", "image/png", s_png)
            .Save(dir.File("long.warc.gz"), WarcLayout.GzipPerRecord);

        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        // The record the long block swallowed is not lost with it: reading resumes at its own gzip member.
        Assert.Equal(3, items.Count);
        var failure = await FailureAsync(items[0]);
        Assert.Contains($"long.warc.gz@{offsets[0]}", failure, StringComparison.Ordinal);
        Assert.Contains("Content-Length is wrong", failure, StringComparison.Ordinal);
        Assert.Contains($"resumes at the next record, long.warc.gz@{offsets[1]}", failure, StringComparison.Ordinal);
        Assert.Equal("http://example.com/swallowed.png", items[1].Provenance.SourceUrl);
        Assert.Equal(s_png, await items[1].ReadAsync(default));
        Assert.Equal("http://example.com/c.png", items[^1].Provenance.SourceUrl);
        Assert.Equal(s_png, await items[^1].ReadAsync(default));
    }

    [Theory]
    [InlineData(null, "no Content-Length")]
    [InlineData("12x", "invalid Content-Length \"12x\"")]
    [InlineData("-5", "invalid Content-Length \"-5\"")]
    public async Task A_missing_or_invalid_content_length_fails_its_record_by_location_and_reading_resynchronises(string? declared, string expected)
    {
        using var dir = new TempDirectory("warc");
        var (path, offsets) = new WarcTestWriter()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg, o =>
            {
                o.OmitContentLength = declared is null;
                o.ContentLength = declared;
            })
            .Ok("http://example.com/b.png", "image/png", s_png)
            .Save(dir.File("cl.warc"), WarcLayout.Plain);

        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        Assert.Equal(2, items.Count);
        var failure = await FailureAsync(items[0]);
        Assert.Contains($"cl.warc@{offsets[0]}", failure, StringComparison.Ordinal);
        Assert.Contains(expected, failure, StringComparison.Ordinal);
        Assert.Equal(s_png, await items[1].ReadAsync(default));
    }

    [Theory]
    [InlineData(0.5, "inside the deflate data")]
    [InlineData(5, "inside the header of the gzip member")]
    public async Task A_truncated_gzip_file_yields_the_records_before_the_cut_then_one_failure_naming_where_it_ends(double cut, string expected)
    {
        using var dir = new TempDirectory("warc");
        var (bytes, offsets) = new WarcTestWriter()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg)
            .Ok("http://example.com/b.png", "image/png", s_png)
            .Ok("http://example.com/c.jpg", "image/jpeg", s_jpeg)
            .Build(WarcLayout.GzipPerRecord);

        // Cut inside the last member: halfway through, or 5 bytes after its start.
        var last = offsets[2];
        var length = cut < 1 ? last + ((bytes.Length - last) / 2) : last + (long)cut;
        var path = dir.File("cut.warc.gz");
        await File.WriteAllBytesAsync(path, bytes[..(int)length]);

        var source = new WarcSource(path, SourceLimits.Default);
        var items = await ReadAllAsync(source);

        Assert.Equal(3, items.Count);
        Assert.Equal(3, await source.CountAsync(default));
        Assert.Equal(s_jpeg, await items[0].ReadAsync(default));
        Assert.Equal(s_png, await items[1].ReadAsync(default));
        var failure = await FailureAsync(items[2]);
        Assert.Equal($"cut.warc.gz@{last}", items[2].Name);
        Assert.Contains($"cut.warc.gz@{last}", failure, StringComparison.Ordinal);
        Assert.Contains("truncated", failure, StringComparison.Ordinal);
        Assert.Contains(expected, failure, StringComparison.Ordinal);
        Assert.Contains($"ends at byte {length}", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_gzip_file_cut_inside_its_last_trailer_yields_the_complete_record_then_one_failure_naming_where_it_ends()
    {
        using var dir = new TempDirectory("warc");
        var (bytes, offsets) = new WarcTestWriter()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg)
            .Ok("http://example.com/b.png", "image/png", s_png)
            .Build(WarcLayout.GzipPerRecord);
        var path = dir.File("cut.warc.gz");
        await File.WriteAllBytesAsync(path, bytes[..^4]);

        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        // The deflate data of the last member is whole, so its record is; only its CRC cannot be checked.
        Assert.Equal(3, items.Count);
        Assert.Equal(s_png, await items[1].ReadAsync(default));
        var failure = await FailureAsync(items[2]);
        Assert.StartsWith($"cut.warc.gz@{offsets[1]}+", items[2].Name, StringComparison.Ordinal);
        Assert.Contains(items[2].Name, failure, StringComparison.Ordinal);
        Assert.Contains($"the file ends at byte {bytes.Length - 4}, inside the trailer of the gzip member that starts at byte {offsets[1]}", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_truncated_plain_file_fails_the_cut_record_by_location()
    {
        using var dir = new TempDirectory("warc");
        var (bytes, offsets) = new WarcTestWriter()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg)
            .Ok("http://example.com/b.png", "image/png", s_png)
            .Build(WarcLayout.Plain);
        var path = dir.File("cut.warc");
        await File.WriteAllBytesAsync(path, bytes[..^50]);

        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        Assert.Equal(2, items.Count);
        Assert.Equal(s_jpeg, await items[0].ReadAsync(default));
        var failure = await FailureAsync(items[1]);
        Assert.Contains($"cut.warc@{offsets[1]}", failure, StringComparison.Ordinal);
        Assert.Contains("truncated", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_corrupt_gzip_member_fails_its_record_and_the_following_members_are_still_read()
    {
        using var dir = new TempDirectory("warc");
        var (bytes, offsets) = new WarcTestWriter()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg)
            .Ok("http://example.com/b.png", "image/png", s_png)
            .Ok("http://example.com/c.jpg", "image/jpeg", s_jpeg)
            .Build(WarcLayout.GzipPerRecord);

        // Damage the middle of the second member's deflate data.
        var middle = (int)((offsets[1] + offsets[2]) / 2);
        for (var i = middle; i < middle + 8; i++)
        {
            bytes[i] ^= 0x5A;
        }

        var path = dir.File("corrupt.warc.gz");
        await File.WriteAllBytesAsync(path, bytes);
        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        Assert.Equal(3, items.Count);
        Assert.Equal(s_jpeg, await items[0].ReadAsync(default));
        var failure = await FailureAsync(items[1]);
        Assert.Contains($"corrupt.warc.gz@{offsets[1]}", failure, StringComparison.Ordinal);
        Assert.Contains($"gzip member at byte {offsets[1]}", failure, StringComparison.Ordinal);
        Assert.Equal(s_jpeg, await items[2].ReadAsync(default));
    }

    [Fact]
    public async Task A_corrupt_first_gzip_member_fails_alone_and_the_records_after_it_are_read()
    {
        using var dir = new TempDirectory("warc");
        var (bytes, offsets) = new WarcTestWriter()
            .Warcinfo()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg)
            .Build(WarcLayout.GzipPerRecord);
        for (var i = 12; i < 20; i++)
        {
            bytes[i] ^= 0xA5;
        }

        var path = dir.File("head.warc.gz");
        await File.WriteAllBytesAsync(path, bytes);
        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        Assert.Equal(2, items.Count);
        var failure = await FailureAsync(items[0]);
        Assert.Equal("head.warc.gz@0", items[0].Name);
        Assert.Contains("head.warc.gz@0: the gzip member at byte 0", failure, StringComparison.Ordinal);
        Assert.Equal($"head.warc.gz@{offsets[1]}", items[1].Name);
        Assert.Equal(s_jpeg, await items[1].ReadAsync(default));
    }

    [Theory]
    [InlineData(WarcLayout.Plain)]
    [InlineData(WarcLayout.GzipPerRecord)]
    [InlineData(WarcLayout.GzipWhole)]
    public async Task Randomly_damaged_files_never_throw_out_of_reading_and_the_count_always_matches_the_items(WarcLayout layout)
    {
        using var dir = new TempDirectory("warc");
        var (original, _) = new WarcTestWriter()
            .Warcinfo()
            .Page("http://example.com/", "<img src=a.jpg><img srcset='b.png 2x'>")
            .Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg)
            .Response("http://example.com/2", WarcTestWriter.Http(200, "OK",
                [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")], WarcTestWriter.Chunked(WarcTestWriter.Gzip("<img src=c>"u8.ToArray()), 7)))
            .Response("http://example.com/b.png", WarcTestWriter.Http(200, "OK",
                [("Content-Type", "image/png"), ("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")], WarcTestWriter.Chunked(WarcTestWriter.Gzip(s_png), 40)))
            .Response("http://example.com/r", WarcTestWriter.Http(302, "Found", [("Location", "/a.jpg")], []))
            .Ok("http://example.com/c", "application/octet-stream", s_jpeg)
            .Build(layout);
        var random = new Random(20240506);
        var path = dir.File("fuzz.warc.gz");
        for (var round = 0; round < 150; round++)
        {
            var bytes = new List<byte>(original);
            var position = random.Next(bytes.Count);
            switch (random.Next(4))
            {
                case 0:
                    bytes[position] ^= (byte)random.Next(1, 256);
                    break;
                case 1:
                    bytes.RemoveRange(position, bytes.Count - position);
                    break;
                case 2:
                    bytes.InsertRange(position, "\r\nWARC/1.1\r\nContent-Length: 5\r\n\r\n"u8.ToArray());
                    break;
                default:
                    bytes.RemoveRange(position, Math.Min(random.Next(1, 100), bytes.Count - position));
                    break;
            }

            await File.WriteAllBytesAsync(path, [.. bytes]);
            var source = new WarcSource(path, SourceLimits.Default);
            try
            {
                var items = await ReadAllAsync(source);
                Assert.Equal(items.Count, await source.CountAsync(default));
                foreach (var item in items)
                {
                    try
                    {
                        await item.ReadAsync(default);
                    }
                    catch (IngestItemFailedException e)
                    {
                        Assert.StartsWith($"{item.Name}: ", e.Message, StringComparison.Ordinal);
                        Assert.StartsWith("fuzz.warc.gz@", item.Name, StringComparison.Ordinal);
                    }
                }
            }
            catch (IngestSourceException e)
            {
                // Damage before the first record leaves nothing to read: a source error naming the file.
                Assert.Contains(path, e.Message, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Bytes_after_the_last_gzip_member_that_are_not_gzip_are_reported_by_location()
    {
        using var dir = new TempDirectory("warc");
        var (bytes, _) = new WarcTestWriter().Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg).Build(WarcLayout.GzipPerRecord);
        var path = dir.File("tail.warc.gz");
        await File.WriteAllBytesAsync(path, [.. bytes, .. "garbage that is not gzip"u8]);

        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        Assert.Equal(2, items.Count);
        Assert.Equal(s_jpeg, await items[0].ReadAsync(default));
        var failure = await FailureAsync(items[1]);
        Assert.Contains($"tail.warc.gz@{bytes.Length}", failure, StringComparison.Ordinal);
        Assert.Contains("not a gzip member", failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nthis line has no colon\r\n\r\n", "malformed HTTP header line 3")]
    [InlineData("HTTP/1.1 2OO OK\r\nContent-Type: image/jpeg\r\n\r\n", "malformed HTTP status line")]
    [InlineData("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "malformed HTTP header line 2")]
    public async Task A_malformed_http_head_in_a_response_fails_its_record_by_location(string head, string expected)
    {
        using var dir = new TempDirectory("warc");
        var (path, offsets) = new WarcTestWriter()
            .Response("http://example.com/a.jpg", [.. Encoding.ASCII.GetBytes(head), .. s_jpeg])
            .Ok("http://example.com/b.png", "image/png", s_png)
            .Save(dir.File("http.warc"), WarcLayout.Plain);

        var items = await ReadAllAsync(new WarcSource(path, SourceLimits.Default));

        Assert.Equal(2, items.Count);
        var failure = await FailureAsync(items[0]);
        Assert.Contains($"http.warc@{offsets[0]}", failure, StringComparison.Ordinal);
        Assert.Contains(expected, failure, StringComparison.Ordinal);
        Assert.Equal(s_png, await items[1].ReadAsync(default));
    }

    [Fact]
    public async Task A_record_the_crawler_truncated_fails_by_location()
    {
        using var dir = new TempDirectory("warc");
        var (path, offsets) = new WarcTestWriter()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_jpeg[..100], o => o.Fields.Add(("WARC-Truncated", "length")))
            .Save(dir.File("t.warc"), WarcLayout.Plain);

        var failure = await FailureAsync(Assert.Single(await ReadAllAsync(new WarcSource(path, SourceLimits.Default))));

        Assert.Contains($"t.warc@{offsets[0]}", failure, StringComparison.Ordinal);
        Assert.Contains("WARC-Truncated: length", failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_file_that_is_not_warc_is_a_source_error_naming_it(bool gzip)
    {
        using var dir = new TempDirectory("warc");
        var path = dir.File("notes.warc.gz");
        var text = "<!doctype html><p>hello</p>"u8.ToArray();
        await File.WriteAllBytesAsync(path, gzip ? WarcTestWriter.Gzip(text) : text);
        var source = new WarcSource(path, SourceLimits.Default);

        var e = await Assert.ThrowsAsync<IngestSourceException>(() => ReadAllAsync(source));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("not a WARC file", e.Message, StringComparison.Ordinal);
        var counted = await Assert.ThrowsAsync<IngestSourceException>(() => source.CountAsync(default));
        Assert.Contains(path, counted.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_file_is_a_source_error_naming_it()
    {
        var e = await Assert.ThrowsAsync<IngestSourceException>(() => ReadAllAsync(new WarcSource("/no/such/crawl.warc", SourceLimits.Default)));
        Assert.Contains("/no/such/crawl.warc", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_empty_file_yields_no_items(bool gzip)
    {
        using var dir = new TempDirectory("warc");
        var path = dir.File("empty.warc");
        await File.WriteAllBytesAsync(path, gzip ? WarcTestWriter.Gzip([]) : []);
        var source = new WarcSource(path, SourceLimits.Default);

        Assert.Empty(await ReadAllAsync(source));
        Assert.Equal(0, await source.CountAsync(default));
    }

    /// <summary>
    /// Pins what .NET's GZipStream does, the reason WarcSource reads gzip members itself: concatenated
    /// members are read as one stream, and a file cut anywhere ends silently instead of failing.
    /// </summary>
    [Fact]
    public void GZipStream_reads_concatenated_members_as_one_stream_and_ends_silently_on_truncated_input()
    {
        var one = WarcTestWriter.Gzip(s_jpeg);
        var two = WarcTestWriter.Gzip(s_png);
        Assert.Equal(s_jpeg.Length + s_png.Length, Inflate([.. one, .. two]).Length);
        Assert.True(Inflate(one[..(one.Length / 2)]).Length < s_jpeg.Length);
        Assert.Equal(s_jpeg.Length, Inflate(one[..^4]).Length);
        Assert.Equal(s_jpeg.Length, Inflate([.. one, .. two[..5]]).Length);

        static byte[] Inflate(byte[] gzip)
        {
            using var input = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress);
            var output = new MemoryStream();
            input.CopyTo(output);
            return output.ToArray();
        }
    }

    internal static async Task<List<IngestItem>> ReadAllAsync(IIngestSource source)
    {
        var items = new List<IngestItem>();
        await foreach (var item in source.ReadAsync(default))
        {
            items.Add(item);
        }

        return items;
    }

    private static async Task<string> FailureAsync(IngestItem item)
    {
        var e = await Assert.ThrowsAsync<IngestItemFailedException>(async () => await item.ReadAsync(default));
        return e.Message;
    }
}
