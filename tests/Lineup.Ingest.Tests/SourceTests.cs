using Lineup.Ingest.Sources;
using Lineup.TestSupport;

namespace Lineup.Ingest.Tests;

public sealed class FolderSourceTests
{
    [Fact]
    public async Task Lists_every_regular_file_recursively_in_ordinal_order_and_passes_over_hidden_ones()
    {
        using var dir = new TempDirectory("folder");
        Directory.CreateDirectory(dir.Combine("b", "c"));
        Directory.CreateDirectory(dir.Combine(".hidden"));
        await File.WriteAllTextAsync(dir.Combine("b", "c", "2.jpg"), "x");
        await File.WriteAllTextAsync(dir.Combine("a.png"), "x");
        await File.WriteAllTextAsync(dir.Combine(".secret.jpg"), "x");
        await File.WriteAllTextAsync(dir.Combine(".hidden", "3.jpg"), "x");

        var names = new List<string>();
        await foreach (var item in new FolderSource(dir.Path, 1024).ReadAsync(default))
        {
            names.Add(item.Name);
            Assert.Equal(Path.Combine(dir.Path, item.Name), item.Provenance.OriginalPath);
        }

        Assert.Equal(["a.png", Path.Combine("b", "c", "2.jpg")], names);
    }

    [Fact]
    public async Task A_dangling_link_and_an_oversized_file_fail_alone_with_their_names()
    {
        using var dir = new TempDirectory("folder-bad");
        File.CreateSymbolicLink(dir.Combine("gone.jpg"), dir.Combine("missing-target.jpg"));
        await File.WriteAllBytesAsync(dir.Combine("big.jpg"), new byte[2048]);
        await File.WriteAllBytesAsync(dir.Combine("ok.jpg"), new byte[16]);

        var items = new Dictionary<string, IngestItem>();
        await foreach (var item in new FolderSource(dir.Path, 1024).ReadAsync(default))
        {
            items[item.Name] = item;
        }

        var gone = await Assert.ThrowsAsync<IngestItemFailedException>(async () => await items["gone.jpg"].ReadAsync(default));
        Assert.Contains("gone.jpg", gone.Message, StringComparison.Ordinal);
        var big = await Assert.ThrowsAsync<IngestItemRefusedException>(async () => await items["big.jpg"].ReadAsync(default));
        Assert.Contains("big.jpg", big.Message, StringComparison.Ordinal);
        Assert.Equal(16, (await items["ok.jpg"].ReadAsync(default)).Length);
    }

    [Fact]
    public async Task A_missing_folder_is_a_clear_error()
    {
        var source = new FolderSource("/no/such/folder", 1024);
        var e = await Assert.ThrowsAsync<IngestSourceException>(async () =>
        {
            await foreach (var _ in source.ReadAsync(default))
            {
            }
        });
        Assert.Contains("/no/such/folder", e.Message, StringComparison.Ordinal);
    }
}

public sealed class CsvReaderTests
{
    [Fact]
    public void Reads_quoted_fields_escaped_quotes_and_embedded_newlines()
    {
        using var dir = new TempDirectory("csv");
        var path = dir.Combine("m.csv");
        File.WriteAllText(path, "path,note\r\na.jpg,\"say \"\"hi\"\", then\nleave\"\r\nb.jpg,plain\n");
        var rows = CsvReader.ReadFile(path).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal("say \"hi\", then\nleave", rows[0]["note"]);
        Assert.Equal("b.jpg", rows[1]["PATH"]);
    }

    [Theory]
    [InlineData("path,note\na.jpg,\"never closed\n", "not closed")]
    [InlineData("path\na.jpg,extra\n", "2 fields")]
    [InlineData("", "empty file")]
    public void Malformed_files_are_errors_that_name_the_file_and_line(string content, string expected)
    {
        using var dir = new TempDirectory("csv-bad");
        var path = dir.Combine("bad.csv");
        File.WriteAllText(path, content);
        var e = Assert.Throws<InvalidDataException>(() => CsvReader.ReadFile(path).ToList());
        Assert.Contains("bad.csv", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
