using Lineup.Ingest.Sources;
using Lineup.TestSupport;
using Xunit.Abstractions;

namespace Lineup.Ingest.Tests;

/// <summary>Measures process-wide allocations, so it runs alone, after the parallel tests.</summary>
[CollectionDefinition(nameof(WarcStreamingTests), DisableParallelization = true)]
public sealed class WarcStreamingCollection;

[Collection(nameof(WarcStreamingTests))]
public sealed class WarcStreamingTests(ITestOutputHelper output)
{
    private const int LargeRecord = 32 * 1024 * 1024;

    [Theory]
    [InlineData(WarcLayout.Plain)]
    [InlineData(WarcLayout.GzipPerRecord)]
    public async Task Records_larger_than_any_buffer_are_streamed_past_and_never_held_in_memory(WarcLayout layout)
    {
        using var dir = new TempDirectory("warc-stream");
        var small = TestImages.Jpeg(16, 16);
        var large = new byte[LargeRecord];
        small.CopyTo(large, 0);
        var (path, _) = new WarcTestWriter()
            .Ok("http://example.com/video.mp4", "video/mp4", large)
            .Ok("http://example.com/page.html", "text/html", large)
            .Ok("http://example.com/huge.jpg", "image/jpeg", large)
            .Ok("http://example.com/small.jpg", "image/jpeg", small)
            .Save(dir.File(layout == WarcLayout.Plain ? "big.warc" : "big.warc.gz"), layout);
        large = null;
        var source = new WarcSource(path, SourceLimits.Default with { MaxItemBytes = 1024 * 1024, MaxHtmlBytes = 64 * 1024 });

        GC.Collect();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var count = await source.CountAsync(default);
        var items = await WarcSourceTests.ReadAllAsync(source);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        output.WriteLine($"{layout}: {allocated:N0} bytes allocated while reading three {LargeRecord:N0}-byte records twice");
        Assert.Equal(2, count);
        await Assert.ThrowsAsync<IngestItemRefusedException>(async () => await items[0].ReadAsync(default));
        Assert.Equal(small, await items[1].ReadAsync(default));

        // Three 32 MiB blocks, each read twice: holding any one of them would allocate at least its size.
        Assert.True(allocated < LargeRecord / 2, $"{allocated:N0} bytes allocated");
    }
}
