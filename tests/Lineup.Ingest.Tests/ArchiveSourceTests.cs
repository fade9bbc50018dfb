using System.Buffers.Binary;
using System.Formats.Tar;
using System.IO.Compression;
using Lineup.Ingest.Sources;
using Lineup.TestSupport;
using SharpCompress.Compressors.BZip2;
using SharpCompress.Compressors.ZStandard;
using ScCompressionMode = SharpCompress.Compressors.CompressionMode;

namespace Lineup.Ingest.Tests;

public sealed class ArchiveSourceTests : IDisposable
{
    private readonly TempDirectory _dir = new("archive");
    private readonly byte[] _jpegA = TestImages.Jpeg(64, 48);
    private readonly byte[] _jpegB = TestImages.Jpeg(40, 80, quality: 70);
    private readonly byte[] _png = TestImages.Png(32, 32);

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Zip_members_come_through_in_order_with_their_location_and_provenance()
    {
        var zip = WriteZip("photos.zip", ("a.jpg", _jpegA), ("trip/day 1/b.jpg", _jpegB), ("trip/c.png", _png));

        var source = new ArchiveSource(zip, SourceLimits.Default);
        var items = await ReadAllAsync(source);

        Assert.Equal("zip", source.Kind);
        Assert.Equal(zip, source.Description);
        Assert.Equal(["photos.zip!a.jpg", "photos.zip!trip/day 1/b.jpg", "photos.zip!trip/c.png"], items.Select(i => i.Item.Name));
        Assert.Equal(_jpegA, items[0].Bytes);
        Assert.Equal(_jpegB, items[1].Bytes);
        Assert.Equal(_png, items[2].Bytes);
        Assert.Equal($"{zip}!trip/day 1/b.jpg", items[1].Item.Provenance.OriginalPath);
        Assert.Equal(3, await source.CountAsync(default));
    }

    [Fact]
    public async Task Tar_members_in_nested_folders_come_through_and_folders_are_not_items()
    {
        var tar = WriteTar("photos.tar", null, ("./people/", null), ("./people/a.jpg", _jpegA), ("people/x/y/b.jpg", _jpegB));

        var source = new ArchiveSource(tar, SourceLimits.Default);
        var items = await ReadAllAsync(source);

        Assert.Equal("tar", source.Kind);
        Assert.Equal(["photos.tar!./people/a.jpg", "photos.tar!people/x/y/b.jpg"], items.Select(i => i.Item.Name));
        Assert.Equal(_jpegA, items[0].Bytes);
        Assert.Equal(_jpegB, items[1].Bytes);
        Assert.Equal($"{tar}!people/x/y/b.jpg", items[1].Item.Provenance.OriginalPath);
        Assert.Equal(2, await source.CountAsync(default));
    }

    [Theory]
    [InlineData("photos.tar.gz")]
    [InlineData("photos.tar.bz2")]
    [InlineData("photos.tar.zst")]
    public async Task Compressed_tars_stream_through(string fileName)
    {
        var tar = WriteTar(fileName, Compressor(fileName), ("a/a.jpg", _jpegA), ("a/b/b.jpg", _jpegB), ("c.png", _png));

        var source = new ArchiveSource(tar, SourceLimits.Default);
        var items = await ReadAllAsync(source);

        Assert.Equal("tar", source.Kind);
        Assert.Equal([$"{fileName}!a/a.jpg", $"{fileName}!a/b/b.jpg", $"{fileName}!c.png"], items.Select(i => i.Item.Name));
        Assert.Equal([_jpegA, _jpegB, _png], items.Select(i => i.Bytes!));
        Assert.Equal(3, await source.CountAsync(default));
    }

    [Fact]
    public async Task Links_devices_fifos_hidden_members_macos_forks_and_empty_files_are_passed_over_and_not_counted()
    {
        var path = _dir.File("mixed.tar.gz");
        using (var file = File.Create(path))
        using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        using (var writer = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "a/"));
            writer.WriteEntry(Regular("a/real.jpg", _jpegA));
            writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "a/link.jpg") { LinkName = "real.jpg" });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "a/hard.jpg") { LinkName = "a/real.jpg" });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, "dev/null.jpg") { DeviceMajor = 1, DeviceMinor = 3 });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.Fifo, "a/fifo.jpg"));
            writer.WriteEntry(Regular(".hidden/x.jpg", _jpegA));
            writer.WriteEntry(Regular("a/.x.jpg", _jpegA));
            writer.WriteEntry(Regular("__MACOSX/a/._real.jpg", _jpegA));
            writer.WriteEntry(Regular("a/empty.jpg", []));
            writer.WriteEntry(Regular("b.jpg", _jpegB));
        }

        var source = new ArchiveSource(path, SourceLimits.Default);
        var items = await ReadAllAsync(source);

        Assert.Equal(["mixed.tar.gz!a/real.jpg", "mixed.tar.gz!b.jpg"], items.Select(i => i.Item.Name));
        Assert.All(items, i => Assert.NotNull(i.Bytes));
        Assert.Equal(2, await source.CountAsync(default));
    }

    [Fact]
    public async Task A_zip_symbolic_link_is_told_from_the_central_directory_and_passed_over()
    {
        var path = _dir.File("links.zip");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            Add(zip, "a.jpg", _jpegA);
            var link = zip.CreateEntry("link.jpg");
            link.ExternalAttributes = unchecked((int)0xA1FF0000); // S_IFLNK | 0777
            using (var stream = link.Open())
            {
                stream.Write("a.jpg"u8);
            }

            Add(zip, "folder/", []);
            Add(zip, "b.jpg", _jpegB);
        }

        var source = new ArchiveSource(path, SourceLimits.Default);
        var items = await ReadAllAsync(source);

        Assert.Equal(["links.zip!a.jpg", "links.zip!b.jpg"], items.Select(i => i.Item.Name));
        Assert.Equal(2, await source.CountAsync(default));
    }

    [Theory]
    [InlineData("../x.jpg", "path traversal")]
    [InlineData("a/../../b.jpg", "path traversal")]
    [InlineData("a\\..\\..\\b.jpg", "path traversal")]
    [InlineData("/etc/x.jpg", "absolute path")]
    [InlineData("\\\\server\\share\\x.jpg", "absolute path")]
    [InlineData("C:\\x.jpg", "drive-letter path")]
    [InlineData("a\0b.jpg", "control character")]
    public async Task An_unsafe_zip_member_name_is_refused_with_its_location_and_the_rest_comes_through(string entry, string problem)
    {
        var zip = WriteZip("photos.zip", ("ok1.jpg", _jpegA), (entry, _jpegA), ("ok2.jpg", _jpegB));

        var items = await ReadAllAsync(new ArchiveSource(zip, SourceLimits.Default));

        Assert.Equal(3, items.Count);
        var refused = Assert.IsType<IngestItemRefusedException>(items[1].Error);
        var shown = entry.Replace("\0", "\\u0000", StringComparison.Ordinal);
        Assert.Equal($"photos.zip!{shown}", items[1].Item.Name);
        Assert.Equal($"photos.zip!{shown}: unsafe entry name ({problem}).", refused.Message);
        Assert.Equal(_jpegA, items[0].Bytes);
        Assert.Equal(_jpegB, items[2].Bytes);
    }

    [Fact]
    public async Task An_unsafe_tar_member_name_is_refused_with_its_location()
    {
        var tar = WriteTar("photos.tar.gz", Compressor(".gz"), ("../x.jpg", _jpegA), ("ok.jpg", _jpegB));

        var items = await ReadAllAsync(new ArchiveSource(tar, SourceLimits.Default));

        var refused = Assert.IsType<IngestItemRefusedException>(items[0].Error);
        Assert.Equal("photos.tar.gz!../x.jpg: unsafe entry name (path traversal).", refused.Message);
        Assert.Equal(_jpegB, items[1].Bytes);
    }

    [Fact]
    public async Task A_zip_bomb_is_refused_with_its_location_and_the_other_members_come_through()
    {
        // 200 MB of zeros deflates to about 200 KB.
        var path = _dir.File("bomb.zip");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            Add(zip, "a.jpg", _jpegA);
            using (var stream = zip.CreateEntry("bomb.jpg", CompressionLevel.Optimal).Open())
            {
                var zeros = new byte[1024 * 1024];
                for (var i = 0; i < 200; i++)
                {
                    stream.Write(zeros);
                }
            }

            Add(zip, "b.jpg", _jpegB);
        }

        Assert.True(new FileInfo(path).Length < 1024 * 1024);
        var limits = new SourceLimits { MaxItemBytes = 8 * 1024 * 1024, MaxExpandedBytes = 32 * 1024 * 1024 };
        var items = await ReadAllAsync(new ArchiveSource(path, limits));

        Assert.Equal(["bomb.zip!a.jpg", "bomb.zip!bomb.jpg", "bomb.zip!b.jpg"], items.Select(i => i.Item.Name));
        var refused = Assert.IsType<IngestItemRefusedException>(items[1].Error);
        Assert.StartsWith("bomb.zip!bomb.jpg: ", refused.Message, StringComparison.Ordinal);
        Assert.Equal(_jpegA, items[0].Bytes);
        Assert.Equal(_jpegB, items[2].Bytes);
    }

    [Fact]
    public async Task A_member_compressed_past_the_ratio_limit_is_refused_by_its_ratio()
    {
        var path = _dir.File("ratio.zip");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            Add(zip, "zeros.jpg", new byte[4 * 1024 * 1024]);
            Add(zip, "a.jpg", _jpegA);
        }

        var items = await ReadAllAsync(new ArchiveSource(path, SourceLimits.Default));

        var refused = Assert.IsType<IngestItemRefusedException>(items[0].Error);
        Assert.StartsWith("ratio.zip!zeros.jpg: expands more than 200 times its ", refused.Message, StringComparison.Ordinal);
        Assert.Equal(_jpegA, items[1].Bytes);
    }

    [Fact]
    public async Task A_member_whose_header_understates_its_size_is_refused_while_decompressing()
    {
        var path = _dir.File("liar.zip");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            Add(zip, "liar.jpg", new byte[16 * 1024 * 1024]);
            Add(zip, "a.jpg", _jpegA);
        }

        // The local header claims 1,000 bytes, which passes every check made before decompressing.
        var bytes = File.ReadAllBytes(path);
        var header = bytes.AsSpan().IndexOf("liar.jpg"u8) - 30;
        Assert.Equal(0x04034B50u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(header)));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(header + 22), 1000);
        File.WriteAllBytes(path, bytes);

        var limits = new SourceLimits { MaxItemBytes = 1024 * 1024, MaxCompressionRatio = 100_000 };
        var items = await ReadAllAsync(new ArchiveSource(path, limits));

        var refused = Assert.IsType<IngestItemRefusedException>(items[0].Error);
        Assert.Equal("liar.zip!liar.jpg: expands past the 1,048,576-byte limit (its header said 1,000 bytes).", refused.Message);
        Assert.Equal(_jpegA, items[1].Bytes);
    }

    [Theory]
    [InlineData("big.zip")]
    [InlineData("big.tar.gz")]
    public async Task A_member_over_the_item_limit_is_refused_and_the_next_one_is_read(string fileName)
    {
        var big = RandomBytes(300_000, seed: 1);
        var path = fileName.EndsWith(".zip", StringComparison.Ordinal)
            ? WriteZip(fileName, ("big.jpg", big), ("a.jpg", _jpegA))
            : WriteTar(fileName, Compressor(fileName), ("big.jpg", big), ("a.jpg", _jpegA));

        var items = await ReadAllAsync(new ArchiveSource(path, new SourceLimits { MaxItemBytes = 100_000 }));

        var refused = Assert.IsType<IngestItemRefusedException>(items[0].Error);
        Assert.Equal($"{fileName}!big.jpg: 300,000 bytes is over the 100,000-byte limit.", refused.Message);
        Assert.Equal(_jpegA, items[1].Bytes);
    }

    [Theory]
    [InlineData("many.zip")]
    [InlineData("many.tar.gz")]
    public async Task An_archive_expanding_past_its_total_budget_ends_with_one_refusal(string fileName)
    {
        var members = Enumerable.Range(0, 5).Select(i => ($"m{i}.jpg", (byte[]?)RandomBytes(400_000, seed: i))).ToArray();
        var path = fileName.EndsWith(".zip", StringComparison.Ordinal)
            ? WriteZip(fileName, [.. members.Select(m => (m.Item1, m.Item2!))])
            : WriteTar(fileName, Compressor(fileName), members);

        var items = await ReadAllAsync(new ArchiveSource(path, new SourceLimits { MaxExpandedBytes = 1_000_000 }));

        Assert.Equal(3, items.Count);
        Assert.Equal(members[0].Item2, items[0].Bytes);
        Assert.Equal(members[1].Item2, items[1].Bytes);
        var refused = Assert.IsType<IngestItemRefusedException>(items[2].Error);
        Assert.Equal($"{fileName}!m2.jpg: {fileName} expands past the 1,000,000-byte limit for one archive; nothing from here on is read.", refused.Message);
    }

    [Theory]
    [InlineData("cut.tar.gz")]
    [InlineData("cut.tar")]
    [InlineData("cut.zip")]
    public async Task A_truncated_archive_yields_what_precedes_the_cut_then_one_failure(string fileName)
    {
        var members = Enumerable.Range(0, 8).Select(i => ($"m{i}.jpg", (byte[]?)RandomBytes(250_000, seed: i))).ToArray();
        var path = fileName.EndsWith(".zip", StringComparison.Ordinal)
            ? WriteZip(fileName, [.. members.Select(m => (m.Item1, m.Item2!))])
            : WriteTar(fileName, Compressor(fileName), members);
        var whole = File.ReadAllBytes(path);
        File.WriteAllBytes(path, whole[..(whole.Length / 2)]);

        var items = await ReadAllAsync(new ArchiveSource(path, SourceLimits.Default));

        Assert.True(items.Count >= 3, $"expected members before the cut, got {items.Count} items");
        for (var i = 0; i < items.Count - 1; i++)
        {
            Assert.Equal($"{fileName}!m{i}.jpg", items[i].Item.Name);
            Assert.Equal(members[i].Item2, items[i].Bytes);
        }

        var failed = Assert.IsType<IngestItemFailedException>(items[^1].Error);
        Assert.StartsWith(fileName, failed.Message, StringComparison.Ordinal);
        Assert.Contains("truncated or corrupt", failed.Message, StringComparison.Ordinal);
        Assert.True(await new ArchiveSource(path, SourceLimits.Default).CountAsync(default) >= items.Count - 1);
    }

    [Fact]
    public async Task A_corrupt_zip_member_fails_alone_on_its_checksum()
    {
        var first = RandomBytes(10_000, seed: 7);
        var path = _dir.File("flipped.zip");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            Add(zip, "flipped.jpg", first, CompressionLevel.NoCompression);
            Add(zip, "a.jpg", _jpegA);
        }

        var bytes = File.ReadAllBytes(path);
        var data = bytes.AsSpan().IndexOf("flipped.jpg"u8) + "flipped.jpg".Length;
        bytes[data + 5000] ^= 0xFF;
        File.WriteAllBytes(path, bytes);

        var items = await ReadAllAsync(new ArchiveSource(path, SourceLimits.Default));

        var failed = Assert.IsType<IngestItemFailedException>(items[0].Error);
        Assert.Equal("flipped.zip!flipped.jpg: corrupt member (CRC-32 mismatch).", failed.Message);
        Assert.Equal(_jpegA, items[1].Bytes);
    }

    [Fact]
    public async Task A_file_that_is_not_an_archive_is_a_source_error_naming_it()
    {
        var path = _dir.File("notes.zip");
        File.WriteAllText(path, new string('x', 2000));
        var source = new ArchiveSource(path, SourceLimits.Default);

        var read = await Assert.ThrowsAsync<IngestSourceException>(() => ReadAllAsync(source));
        var count = await Assert.ThrowsAsync<IngestSourceException>(() => source.CountAsync(default));

        Assert.Contains(path, read.Message, StringComparison.Ordinal);
        Assert.Contains("not a zip or tar archive", read.Message, StringComparison.Ordinal);
        Assert.Contains(path, count.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_gzip_file_without_a_tar_inside_is_a_source_error_naming_it()
    {
        var path = _dir.File("photo.jpg.gz");
        using (var file = File.Create(path))
        using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        {
            gzip.Write(_jpegA);
        }

        var e = await Assert.ThrowsAsync<IngestSourceException>(() => ReadAllAsync(new ArchiveSource(path, SourceLimits.Default)));

        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("not a readable tar archive", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_archive_is_a_source_error_naming_it()
    {
        var path = _dir.File("gone.zip");

        var e = await Assert.ThrowsAsync<IngestSourceException>(() => ReadAllAsync(new ArchiveSource(path, SourceLimits.Default)));

        Assert.Equal($"{path}: no such file.", e.Message);
    }

    [Fact]
    public async Task An_empty_zip_has_no_items()
    {
        var path = _dir.File("empty.zip");
        using (ZipFile.Open(path, ZipArchiveMode.Create))
        {
        }

        var source = new ArchiveSource(path, SourceLimits.Default);

        Assert.Equal("zip", source.Kind);
        Assert.Empty(await ReadAllAsync(source));
        Assert.Equal(0, await source.CountAsync(default));
    }

    private sealed record Outcome(IngestItem Item, byte[]? Bytes, Exception? Error);

    private static async Task<List<Outcome>> ReadAllAsync(IIngestSource source)
    {
        var outcomes = new List<Outcome>();
        await foreach (var item in source.ReadAsync(default))
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

    private string WriteZip(string fileName, params (string Name, byte[] Bytes)[] members)
    {
        var path = _dir.File(fileName);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (name, bytes) in members)
        {
            Add(zip, name, bytes);
        }

        return path;
    }

    private static void Add(ZipArchive zip, string name, byte[] bytes, CompressionLevel level = CompressionLevel.Optimal)
    {
        using var stream = zip.CreateEntry(name, level).Open();
        stream.Write(bytes);
    }

    /// <summary>A tar of the members (a null body is a folder), through <paramref name="compress"/> when given.</summary>
    private string WriteTar(string fileName, Func<Stream, Stream>? compress, params (string Name, byte[]? Bytes)[] members)
    {
        var path = _dir.File(fileName);
        using var file = File.Create(path);
        using var output = compress?.Invoke(file) ?? file;
        using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        foreach (var (name, bytes) in members)
        {
            writer.WriteEntry(bytes is null ? new PaxTarEntry(TarEntryType.Directory, name) : Regular(name, bytes));
        }

        return path;
    }

    private static PaxTarEntry Regular(string name, byte[] bytes) =>
        new(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(bytes) };

    private static Func<Stream, Stream>? Compressor(string fileName) => Path.GetExtension(fileName) switch
    {
        ".gz" => s => new GZipStream(s, CompressionLevel.Fastest, leaveOpen: true),
        ".bz2" => s => BZip2Stream.Create(s, ScCompressionMode.Compress, false, true, false),
        ".zst" => s => new CompressionStream(s, 3, 0, true),
        _ => null,
    };

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
