using Lineup.Ingest.Sources;
using Lineup.TestSupport;

namespace Lineup.Ingest.Tests;

/// <summary>
/// A wrong Content-Length damages its own record only: the records after it are still read, whether the
/// length is too short, too long (so the bytes it claims hold the next record), or longer than the file.
/// </summary>
public sealed class WarcContentLengthTests
{
    private static readonly byte[] s_first = TestImages.Jpeg(24, 16);
    private static readonly byte[] s_damaged = TestImages.Png(8, 8);
    private static readonly byte[] s_third = TestImages.Jpeg(16, 24);

    [Theory]
    [InlineData(WarcLayout.Plain)]
    [InlineData(WarcLayout.GzipPerRecord)]
    [InlineData(WarcLayout.GzipWhole)]
    public async Task A_content_length_100_bytes_too_long_fails_its_record_and_the_record_it_swallowed_is_still_read(WarcLayout layout)
    {
        using var dir = new TempDirectory("warc");
        var (path, offsets) = Save(dir, layout, declared => (declared + 100).ToString());

        var source = new WarcSource(path, SourceLimits.Default);
        var items = await WarcSourceTests.ReadAllAsync(source);

        await AssertRecoveredAsync(path, layout, offsets, items);
        Assert.Equal(3, await source.CountAsync(default));
        var failure = await FailureAsync(items[1]);
        Assert.Contains("Content-Length is wrong", failure, StringComparison.Ordinal);
        if (layout == WarcLayout.GzipPerRecord)
        {
            Assert.Contains("runs past the end of its gzip member", failure, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(WarcLayout.Plain, 5000)]
    [InlineData(WarcLayout.Plain, 1_000_000_000_000)]
    [InlineData(WarcLayout.GzipPerRecord, 5000)]
    [InlineData(WarcLayout.GzipPerRecord, 1_000_000_000_000)]
    [InlineData(WarcLayout.GzipWhole, 5000)]
    [InlineData(WarcLayout.GzipWhole, 1_000_000_000_000)]
    public async Task A_content_length_larger_than_the_rest_of_the_file_fails_its_record_and_the_records_after_it_are_still_read(WarcLayout layout, long excess)
    {
        // 5000 bytes more is read as far as the file goes (it is under the item budget); 10^12 is over it.
        using var dir = new TempDirectory("warc");
        var (path, offsets) = Save(dir, layout, declared => (declared + excess).ToString());

        var source = new WarcSource(path, SourceLimits.Default);
        var items = await WarcSourceTests.ReadAllAsync(source);

        await AssertRecoveredAsync(path, layout, offsets, items);
        Assert.Equal(3, await source.CountAsync(default));
        if (layout != WarcLayout.GzipPerRecord)
        {
            var failure = await FailureAsync(items[1]);
            Assert.Contains("-byte block are missing", failure, StringComparison.Ordinal);
            Assert.Contains("Content-Length is too large", failure, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(WarcLayout.Plain)]
    [InlineData(WarcLayout.GzipPerRecord)]
    [InlineData(WarcLayout.GzipWhole)]
    public async Task A_content_length_100_bytes_too_short_fails_its_record_and_reading_resumes_at_the_next(WarcLayout layout)
    {
        using var dir = new TempDirectory("warc");
        var (path, offsets) = Save(dir, layout, declared => (declared - 100).ToString());

        var source = new WarcSource(path, SourceLimits.Default);
        var items = await WarcSourceTests.ReadAllAsync(source);

        await AssertRecoveredAsync(path, layout, offsets, items);
        Assert.Equal(3, await source.CountAsync(default));
        Assert.Contains("not CRLF CRLF", await FailureAsync(items[1]), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(WarcLayout.Plain)]
    [InlineData(WarcLayout.GzipPerRecord)]
    [InlineData(WarcLayout.GzipWhole)]
    public async Task A_content_length_that_swallows_several_records_loses_none_of_them(WarcLayout layout)
    {
        using var dir = new TempDirectory("warc");
        var writer = new WarcTestWriter()
            .Warcinfo()
            .Ok("http://example.com/bad.jpg", "image/jpeg", s_first, o => o.ContentLength = "20000");
        for (var i = 0; i < 4; i++)
        {
            writer.Ok($"http://example.com/{i}.png", "image/png", s_damaged).Page($"http://example.com/{i}.html", $"<img src={i}.png>");
        }

        var (path, offsets) = writer.Save(dir.File(layout == WarcLayout.Plain ? "many.warc" : "many.warc.gz"), layout);
        var source = new WarcSource(path, SourceLimits.Default);
        var items = await WarcSourceTests.ReadAllAsync(source);

        Assert.Equal(5, items.Count);
        Assert.Equal(5, await source.CountAsync(default));
        Assert.Contains(WarcTestWriter.ItemName(path, layout, offsets, 1), await FailureAsync(items[0]), StringComparison.Ordinal);
        for (var i = 0; i < 4; i++)
        {
            var item = items[i + 1];
            Assert.Equal(WarcTestWriter.ItemName(path, layout, offsets, 2 + (2 * i)), item.Name);
            Assert.Equal(s_damaged, await item.ReadAsync(default));
            Assert.Equal($"http://example.com/{i}.html", item.Provenance.PageUrl);
        }
    }

    [Theory]
    [InlineData(WarcLayout.Plain)]
    [InlineData(WarcLayout.GzipPerRecord)]
    [InlineData(WarcLayout.GzipWhole)]
    public async Task Records_that_each_claim_the_rest_of_the_file_are_all_reported_and_the_count_matches(WarcLayout layout)
    {
        // Every record claims more than the file holds: each is damaged, and each is still found.
        using var dir = new TempDirectory("warc");
        var writer = new WarcTestWriter();
        for (var i = 0; i < 6; i++)
        {
            writer.Ok($"http://example.com/{i}.jpg", "image/jpeg", s_first, o => o.ContentLength = "1000000");
        }

        var (path, offsets) = writer.Save(dir.File(layout == WarcLayout.Plain ? "all.warc" : "all.warc.gz"), layout);
        var source = new WarcSource(path, SourceLimits.Default);
        var items = await WarcSourceTests.ReadAllAsync(source);

        Assert.Equal(6, items.Count);
        Assert.Equal(6, await source.CountAsync(default));
        for (var i = 0; i < 6; i++)
        {
            var name = WarcTestWriter.ItemName(path, layout, offsets, i);
            Assert.Equal(name, items[i].Name);
            Assert.StartsWith($"{name}: record {i + 1}:", await FailureAsync(items[i]), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Going_back_over_damaged_records_stops_once_it_would_read_the_file_again_and_says_so()
    {
        // Each 1 MiB record claims the rest of the file: searching every one again would read it n²/2 times.
        using var dir = new TempDirectory("warc");
        var block = new byte[1024 * 1024];
        s_first.CopyTo(block, 0);
        var writer = new WarcTestWriter();
        for (var i = 0; i < 8; i++)
        {
            writer.Ok($"http://example.com/{i}.jpg", "image/jpeg", block, o => o.ContentLength = "1000000000000");
        }

        var (path, offsets) = writer.Save(dir.File("greedy.warc"), WarcLayout.Plain);
        var source = new WarcSource(path, SourceLimits.Default);
        var items = await WarcSourceTests.ReadAllAsync(source);

        Assert.Equal(items.Count, await source.CountAsync(default));
        Assert.InRange(items.Count, 2, 7);
        for (var i = 0; i < items.Count; i++)
        {
            Assert.Equal(WarcTestWriter.ItemName(path, WarcLayout.Plain, offsets, i), items[i].Name);
        }

        var last = await FailureAsync(items[^1]);
        Assert.StartsWith($"{items[^1].Name}: ", last, StringComparison.Ordinal);
        Assert.Contains("going back over damaged records has already read more of this file a second time than its length", last, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_too_long_block_in_whole_file_gzip_that_is_over_the_item_budget_is_not_searched_again_and_says_so()
    {
        // Gzip data cannot be gone back over, so only a block within half the item budget is kept to search again.
        using var dir = new TempDirectory("warc");
        var big = new byte[6000];
        s_first.CopyTo(big, 0);
        var (path, offsets) = new WarcTestWriter()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_first)
            .Ok("http://example.com/big.jpg", "image/jpeg", big, o => o.ContentLength = "20000")
            .Ok("http://example.com/swallowed.png", "image/png", s_damaged)
            .Ok("http://example.com/c.jpg", "image/jpeg", s_third)
            .Save(dir.File("budget.warc.gz"), WarcLayout.GzipWhole);
        var source = new WarcSource(path, SourceLimits.Default with { MaxItemBytes = 8192 });

        var items = await WarcSourceTests.ReadAllAsync(source);

        Assert.Equal(2, items.Count);
        Assert.Equal(2, await source.CountAsync(default));
        Assert.Equal(s_first, await items[0].ReadAsync(default));
        var failure = await FailureAsync(items[1]);
        Assert.StartsWith($"{WarcTestWriter.ItemName(path, WarcLayout.GzipWhole, offsets, 1)}: ", failure, StringComparison.Ordinal);
        Assert.Contains("longer than the 4,096 bytes of gzip data kept to search again (half the item budget)", failure, StringComparison.Ordinal);
        Assert.Contains("no further record follows", failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_too_long_block_that_runs_into_a_corrupt_gzip_member_fails_and_the_corrupt_member_is_reported_by_its_own_location()
    {
        using var dir = new TempDirectory("warc");
        var (bytes, offsets) = new WarcTestWriter()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_first)
            .Ok("http://example.com/bad.png", "image/png", s_damaged, o => o.ContentLength = "100000")
            .Ok("http://example.com/corrupt.jpg", "image/jpeg", s_first)
            .Ok("http://example.com/c.jpg", "image/jpeg", s_third)
            .Build(WarcLayout.GzipPerRecord);
        var middle = (int)((offsets[2] + offsets[3]) / 2);
        for (var i = middle; i < middle + 8; i++)
        {
            bytes[i] ^= 0x5A;
        }

        var path = dir.File("corrupt.warc.gz");
        await File.WriteAllBytesAsync(path, bytes);
        var source = new WarcSource(path, SourceLimits.Default);
        var items = await WarcSourceTests.ReadAllAsync(source);

        Assert.Equal(4, items.Count);
        Assert.Equal(4, await source.CountAsync(default));
        Assert.Equal(s_first, await items[0].ReadAsync(default));
        var failure = await FailureAsync(items[1]);
        Assert.StartsWith($"corrupt.warc.gz@{offsets[1]}: ", failure, StringComparison.Ordinal);
        Assert.Contains($"resumes at the next record, corrupt.warc.gz@{offsets[2]}", failure, StringComparison.Ordinal);
        Assert.Contains($"gzip member at byte {offsets[2]}", await FailureAsync(items[2]), StringComparison.Ordinal);
        Assert.Equal(s_third, await items[3].ReadAsync(default));
    }

    [Theory]
    [InlineData(WarcLayout.Plain)]
    [InlineData(WarcLayout.GzipPerRecord)]
    [InlineData(WarcLayout.GzipWhole)]
    public async Task Random_wrong_content_lengths_fail_exactly_their_own_records_and_every_sound_record_is_still_read(WarcLayout layout)
    {
        using var dir = new TempDirectory("warc");
        long[] deltas = [-100, -3, -1, 1, 3, 100, 1_000_000, 1_000_000_000_000];
        var random = new Random(20240507);
        for (var round = 0; round < 40; round++)
        {
            var writer = new WarcTestWriter();
            var expected = new List<(int Record, byte[]? Bytes)>();
            var count = random.Next(3, 9);
            for (var i = 0; i < count; i++)
            {
                var page = random.Next(4) == 0;
                var body = page ? "<img src=x.jpg>"u8.ToArray() : TestImages.Png(random.Next(2, 9), random.Next(2, 9));
                var block = WarcTestWriter.Http(200, "OK", [("Content-Type", page ? "text/html" : "image/png")], body);
                var damaged = random.Next(3) == 0;
                var declared = block.Length + deltas[random.Next(deltas.Length)];
                writer.Response($"http://example.com/{i}", block, o => o.ContentLength = damaged ? declared.ToString() : null);
                if (damaged || !page)
                {
                    expected.Add((i, damaged ? null : body));
                }
            }

            var (path, offsets) = writer.Save(dir.File(layout == WarcLayout.Plain ? $"{round}.warc" : $"{round}.warc.gz"), layout);
            var source = new WarcSource(path, SourceLimits.Default);
            var items = await WarcSourceTests.ReadAllAsync(source);

            Assert.Equal(expected.Count, items.Count);
            Assert.Equal(items.Count, await source.CountAsync(default));
            foreach (var ((record, bytes), item) in expected.Zip(items))
            {
                var name = WarcTestWriter.ItemName(path, layout, offsets, record);
                Assert.Equal(name, item.Name);
                if (bytes is null)
                {
                    Assert.StartsWith($"{name}: record {record + 1}", await FailureAsync(item), StringComparison.Ordinal);
                }
                else
                {
                    Assert.Equal(bytes, await item.ReadAsync(default));
                }
            }
        }
    }

    /// <summary>Three image records, the middle one declaring the Content-Length <paramref name="declare"/> gives for its true one.</summary>
    private static (string Path, long[] Offsets) Save(TempDirectory dir, WarcLayout layout, Func<int, string> declare)
    {
        var middle = WarcTestWriter.Http(200, "OK", [("Content-Type", "image/png"), ("Content-Length", s_damaged.Length.ToString())], s_damaged);
        return new WarcTestWriter()
            .Ok("http://example.com/a.jpg", "image/jpeg", s_first)
            .Response("http://example.com/b.png", middle, o => o.ContentLength = declare(middle.Length))
            .Ok("http://example.com/c.jpg", "image/jpeg", s_third)
            .Save(dir.File(layout == WarcLayout.Plain ? "crawl.warc" : "crawl.warc.gz"), layout);
    }

    /// <summary>The first and third records are items with their bytes and provenance; the second fails by its location.</summary>
    private static async Task AssertRecoveredAsync(string path, WarcLayout layout, long[] offsets, List<IngestItem> items)
    {
        Assert.Equal(3, items.Count);
        Assert.Equal(3, items.Select(i => i.Name).Distinct().Count());
        (int Index, string Url, byte[] Bytes)[] sound = [(0, "http://example.com/a.jpg", s_first), (2, "http://example.com/c.jpg", s_third)];
        foreach (var (index, url, bytes) in sound)
        {
            var item = items[index];
            var name = WarcTestWriter.ItemName(path, layout, offsets, index);
            Assert.Equal(name, item.Name);
            Assert.Equal(bytes, await item.ReadAsync(default));
            Assert.Equal(url, item.Provenance.SourceUrl);
            Assert.Equal($"{path}@{name.Split('@')[1]}", item.Provenance.OriginalPath);
            Assert.Equal(new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero), item.Provenance.FetchedAt);
            Assert.StartsWith("<urn:uuid:", item.Provenance.RecordId, StringComparison.Ordinal);
        }

        var damaged = WarcTestWriter.ItemName(path, layout, offsets, 1);
        Assert.Equal(damaged, items[1].Name);
        var failure = await FailureAsync(items[1]);
        Assert.StartsWith($"{damaged}: record 2: ", failure, StringComparison.Ordinal);
        Assert.Contains($"reading resumes at the next record, {WarcTestWriter.ItemName(path, layout, offsets, 2)}", failure, StringComparison.Ordinal);
        Assert.Equal($"{path}@{damaged.Split('@')[1]}", items[1].Provenance.OriginalPath);
        Assert.Equal("http://example.com/b.png", items[1].Provenance.SourceUrl);
    }

    private static async Task<string> FailureAsync(IngestItem item)
    {
        var e = await Assert.ThrowsAsync<IngestItemFailedException>(async () => await item.ReadAsync(default));
        return e.Message;
    }
}
