using Lineup.TestSupport;
using Lineup.Vision.Models;

namespace Lineup.Cli.Tests;

public sealed class ModelStoreTests
{
    [Fact]
    public async Task A_folder_copy_is_verified_and_installed_and_a_corrupt_file_is_named()
    {
        var shared = await TestPaths.ModelsAsync();
        using var dir = new TempDirectory("models");
        var store = new ModelStore(dir.Combine("cache"));
        Assert.False(store.Verify().IsValid);

        await store.FetchAsync(shared.PackDirectory);
        Assert.True(store.Verify().IsValid);
        Assert.Empty(Directory.EnumerateDirectories(store.CacheDirectory, ".staging-*"));

        var victim = store.PathOf("landmarker");
        var bytes = await File.ReadAllBytesAsync(victim);
        bytes[bytes.Length / 2] ^= 0xFF;
        await File.WriteAllBytesAsync(victim, bytes);
        var check = store.Verify();
        Assert.False(check.IsValid);
        Assert.Contains(check.Problems, p => p.StartsWith("fr_landmark.onnx", StringComparison.Ordinal));

        var missing = await Assert.ThrowsAsync<ModelStoreException>(() => store.EnsureAsync(allowFetch: false));
        Assert.Contains(ModelStore.FetchCommand, missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tampered_archive_is_refused_and_leaves_the_cache_as_it_was()
    {
        var shared = await TestPaths.ModelsAsync();
        using var dir = new TempDirectory("models-tampered");
        var store = new ModelStore(dir.Combine("cache"));
        await store.FetchAsync(shared.PackDirectory);

        var fake = dir.Combine(store.Manifest.Tarball);
        await File.WriteAllBytesAsync(fake, new byte[1024]);
        var e = await Assert.ThrowsAsync<ModelStoreException>(() => store.FetchAsync(fake));
        Assert.Contains("SHA-256", e.Message, StringComparison.Ordinal);
        Assert.True(store.Verify().IsValid);

        var partial = dir.Combine("partial");
        Directory.CreateDirectory(partial);
        File.Copy(Path.Combine(shared.PackDirectory, "fr_detect.onnx"), Path.Combine(partial, "fr_detect.onnx"));
        var incomplete = await Assert.ThrowsAsync<ModelStoreException>(() => store.FetchAsync(partial));
        Assert.Contains("missing", incomplete.Message, StringComparison.Ordinal);
        Assert.True(store.Verify().IsValid);
    }

    [Fact]
    public async Task A_corrupt_cache_is_fetched_again_once_with_npm()
    {
        var shared = await TestPaths.ModelsAsync();
        using var dir = new TempDirectory("models-refetch");
        var lines = new List<string>();
        var store = new ModelStore(dir.Combine("cache"), progress: new SyncProgress(lines.Add));
        await store.FetchAsync(shared.PackDirectory);
        await File.WriteAllBytesAsync(store.PathOf("embedder"), [1, 2, 3]);

        await store.EnsureAsync();

        Assert.True(store.Verify().IsValid);
        Assert.Contains(lines, l => l.Contains("fetching", StringComparison.Ordinal));
    }

    private sealed class SyncProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
