using Lineup.Core.Audit;
using Lineup.Core.Catalog;
using NSec.Cryptography;

namespace Lineup.Storage;

/// <summary>An audit-log public key: checks checkpoint signatures (Ed25519 through libsodium, via NSec).</summary>
public sealed class AuditPublicKey : ICheckpointVerifier
{
    private readonly PublicKey _key;
    private readonly byte[] _raw;

    private AuditPublicKey(PublicKey key, string? origin)
    {
        _key = key;
        _raw = key.Export(KeyBlobFormat.RawPublicKey);
        KeyId = AuditKeys.KeyId(_raw);
        Origin = origin ?? AuditKeys.DefaultOrigin(_raw);
    }

    public byte[] PublicKey => (byte[])_raw.Clone();

    public string Origin { get; }

    public string KeyId { get; }

    /// <summary>The C2SP verifier key a witness configures (<see cref="AuditKeys.FormatVerifierKey"/>).</summary>
    public string VerifierKey => AuditKeys.FormatVerifierKey(Origin, _raw);

    /// <summary>A raw 32-byte Ed25519 public key; the origin defaults to <see cref="AuditKeys.DefaultOrigin"/>.</summary>
    public static AuditPublicKey FromRaw(ReadOnlySpan<byte> publicKey, string? origin = null) =>
        new(NSec.Cryptography.PublicKey.Import(SignatureAlgorithm.Ed25519, publicKey, KeyBlobFormat.RawPublicKey), origin);

    /// <summary>A verifier key string (<see cref="AuditKeys.FormatVerifierKey"/>): its name is the origin.</summary>
    public static AuditPublicKey FromVerifierKey(string verifierKey)
    {
        var (name, publicKey) = AuditKeys.ParseVerifierKey(verifierKey);
        return FromRaw(publicKey, name);
    }

    /// <summary>Reads a PEM "PUBLIC KEY" file as written beside the private key.</summary>
    public static AuditPublicKey Load(string path)
    {
        var blob = File.ReadAllBytes(path);
        if (!NSec.Cryptography.PublicKey.TryImport(SignatureAlgorithm.Ed25519, blob, KeyBlobFormat.PkixPublicKeyText, out var key) || key is null)
        {
            throw new CatalogException($"'{path}' is not an Ed25519 public key in PEM form.");
        }

        return new AuditPublicKey(key, null);
    }

    /// <summary>
    /// The public key of the data directory's audit log: the <c>.pub</c> file beside the private key; null when the log
    /// has never been signed (neither file exists). Reading it needs no access to the private key.
    /// </summary>
    public static AuditPublicKey? LoadFromDataDirectory(string dataDirectory)
    {
        var paths = AuditSigningKey.PathsIn(dataDirectory);
        if (File.Exists(paths.PublicKey))
        {
            return Load(paths.PublicKey);
        }

        if (File.Exists(paths.PrivateKey))
        {
            using var signer = AuditSigningKey.Load(paths.PrivateKey);
            return FromRaw(signer.PublicKey, signer.Origin);
        }

        return null;
    }

    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) =>
        signature.Length == SignatureAlgorithm.Ed25519.SignatureSize && SignatureAlgorithm.Ed25519.Verify(_key, message, signature);

    internal byte[] ExportPem() => _key.Export(KeyBlobFormat.PkixPublicKeyText);
}

/// <summary>
/// The audit log's Ed25519 signing key, kept in <c>&lt;data&gt;/keys/audit-ed25519.key</c> (PKCS#8 PEM, mode 0600, in a
/// 0700 directory) with its public key beside it (<c>audit-ed25519.pub</c>, PEM). Created on first use; a key file
/// that others can read is refused, as OpenSSH refuses one.
/// </summary>
public sealed class AuditSigningKey : ICheckpointSigner, IDisposable
{
    public const string KeysDirectoryName = "keys";
    public const string PrivateKeyFileName = "audit-ed25519.key";
    public const string PublicKeyFileName = "audit-ed25519.pub";

    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = OwnerOnlyFile | UnixFileMode.UserExecute;

    private readonly Key _key;
    private readonly AuditPublicKey _public;

    private AuditSigningKey(Key key)
    {
        _key = key;
        _public = AuditPublicKey.FromRaw(key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
    }

    public byte[] PublicKey => _public.PublicKey;

    public string Origin => _public.Origin;

    public string KeyId => _public.KeyId;

    /// <summary>The verifier (public half) of this key.</summary>
    public AuditPublicKey Public => _public;

    /// <summary>Where the data directory keeps the key pair.</summary>
    public static (string PrivateKey, string PublicKey) PathsIn(string dataDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataDirectory);
        var keys = Path.Combine(dataDirectory, KeysDirectoryName);
        return (Path.Combine(keys, PrivateKeyFileName), Path.Combine(keys, PublicKeyFileName));
    }

    /// <summary>
    /// The data directory's key, created when missing. Creation is atomic (written to a temporary file with mode 0600,
    /// flushed, then linked into place without overwriting): two processes racing both end up with the one that won.
    /// </summary>
    public static AuditSigningKey LoadOrCreate(string dataDirectory)
    {
        var paths = PathsIn(dataDirectory);
        var directory = Path.GetDirectoryName(paths.PrivateKey)!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, OwnerOnlyDirectory);
        }

        if (!File.Exists(paths.PrivateKey))
        {
            using var created = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
            var temporary = WriteTemporary(directory, created.Export(KeyBlobFormat.PkixPrivateKeyText));
            try
            {
                File.Move(temporary, paths.PrivateKey, overwrite: false);
            }
            catch (IOException) when (File.Exists(paths.PrivateKey))
            {
                // Another process created the key first; use theirs.
            }
            finally
            {
                File.Delete(temporary);
            }
        }

        var key = Load(paths.PrivateKey);
        try
        {
            WritePublicKey(key, paths.PublicKey);
            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>Reads a private key file (PKCS#8 PEM); refuses one that group or others may read.</summary>
    public static AuditSigningKey Load(string path)
    {
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & ~OwnerOnlyFile & ~UnixFileMode.UserExecute) != 0)
        {
            throw new CatalogException(
                $"The audit signing key '{path}' may be read by other users ({File.GetUnixFileMode(path)}); run `chmod 600` on it (and check who read it).");
        }

        var blob = File.ReadAllBytes(path);
        if (!Key.TryImport(SignatureAlgorithm.Ed25519, blob, KeyBlobFormat.PkixPrivateKeyText, out var key) || key is null)
        {
            throw new CatalogException($"'{path}' is not an Ed25519 private key in PEM (PKCS#8) form.");
        }

        return new AuditSigningKey(key);
    }

    public byte[] Sign(ReadOnlySpan<byte> message) => SignatureAlgorithm.Ed25519.Sign(_key, message);

    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) => _public.Verify(message, signature);

    public void Dispose() => _key.Dispose();

    /// <summary>
    /// Keeps the <c>.pub</c> file equal to the private key's public half. A different one is not silently replaced: it
    /// is what `audit verify` trusts, so a mismatch means someone changed one of the two.
    /// </summary>
    private static void WritePublicKey(AuditSigningKey key, string path)
    {
        var pem = key._public.ExportPem();
        if (File.Exists(path))
        {
            var existing = AuditPublicKey.Load(path);
            if (existing.KeyId != key.KeyId)
            {
                throw new CatalogException(
                    $"The audit public key '{path}' (key {existing.KeyId[..16]}) is not the public half of the signing key beside it (key {key.KeyId[..16]}).");
            }

            return;
        }

        var temporary = WriteTemporary(Path.GetDirectoryName(path)!, pem, publicFile: true);
        try
        {
            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Written by a concurrent process from the same private key.
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static string WriteTemporary(string directory, byte[] content, bool publicFile = false)
    {
        var temporary = Path.Combine(directory, $".tmp-{Guid.NewGuid():N}");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = publicFile ? OwnerOnlyFile | UnixFileMode.GroupRead | UnixFileMode.OtherRead : OwnerOnlyFile;
        }

        using (var stream = new FileStream(temporary, options))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }

        return temporary;
    }

    /// <summary>For messages: the key's short id.</summary>
    public override string ToString() => $"audit key {KeyId[..16]}";
}
