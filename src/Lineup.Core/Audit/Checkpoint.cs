using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Lineup.Core.Audit;

/// <summary>Checks Ed25519 signatures of one audit-log key (implemented where the native crypto library is).</summary>
public interface ICheckpointVerifier
{
    /// <summary>The raw 32-byte Ed25519 public key (RFC 8032 encoding).</summary>
    byte[] PublicKey { get; }

    /// <summary>The log's name: the first line of its checkpoints and the key name of their signatures.</summary>
    string Origin { get; }

    /// <summary>Lower-case hex SHA-256 of <see cref="PublicKey"/> (<see cref="AuditKeys.KeyId"/>): which key signed a stored checkpoint.</summary>
    string KeyId { get; }

    /// <summary>Whether <paramref name="signature"/> is this key's Ed25519 signature of <paramref name="message"/>.</summary>
    bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature);
}

/// <summary>Signs checkpoints with an audit-log private key.</summary>
public interface ICheckpointSigner : ICheckpointVerifier
{
    /// <summary>The Ed25519 signature (64 bytes) of <paramref name="message"/>.</summary>
    byte[] Sign(ReadOnlySpan<byte> message);
}

/// <summary>
/// A signed tree head: the log had <see cref="TreeSize"/> events whose RFC 6962 root was <see cref="RootHash"/>.
/// The signature covers the C2SP tlog-checkpoint note text (<see cref="Body"/>): origin, size, base64 root, and one
/// extension line with the time, so a changed size, root or time fails the signature.
/// </summary>
/// <param name="Signature">The raw Ed25519 signature of the UTF-8 <see cref="Body"/>.</param>
/// <param name="KeyId">The signing key (<see cref="AuditKeys.KeyId"/>).</param>
public sealed record Checkpoint(long TreeSize, byte[] RootHash, DateTimeOffset Timestamp, byte[] Signature, string KeyId)
{
    /// <summary>The extension line's keyword; the time follows in <see cref="AuditEvent.FormatTime"/>'s spelling.</summary>
    public const string TimestampExtension = "timestamp";

    /// <summary>
    /// The note text that is signed (c2sp.org/tlog-checkpoint): <c>origin\nsize\nbase64(root)\ntimestamp TIME\n</c>.
    /// Extension lines are "NOT RECOMMENDED" there because monitors cannot audit them; this one only dates the head
    /// for people, and is signed like the rest.
    /// </summary>
    public string Body(string origin)
    {
        AuditKeys.RequireKeyName(origin);
        MerkleTree.RequireHash(RootHash, nameof(RootHash));
        return $"{origin}\n{TreeSize.ToString(CultureInfo.InvariantCulture)}\n{Convert.ToBase64String(RootHash)}\n{TimestampExtension} {AuditEvent.FormatTime(Timestamp)}\n";
    }

    /// <summary>Signs the head with <paramref name="signer"/>.</summary>
    public static Checkpoint Sign(ICheckpointSigner signer, long treeSize, byte[] rootHash, DateTimeOffset timestamp)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentOutOfRangeException.ThrowIfNegative(treeSize);
        MerkleTree.RequireHash(rootHash, nameof(rootHash));
        var unsigned = new Checkpoint(treeSize, (byte[])rootHash.Clone(), timestamp.ToUniversalTime(), [], signer.KeyId);
        return unsigned with { Signature = signer.Sign(Encoding.UTF8.GetBytes(unsigned.Body(signer.Origin))) };
    }

    /// <summary>Whether <paramref name="key"/> signed this checkpoint (right key id, valid signature over the body).</summary>
    public bool IsSignedBy(ICheckpointVerifier key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return RootHash is { Length: MerkleTree.HashSize }
            && string.Equals(KeyId, key.KeyId, StringComparison.Ordinal)
            && key.Verify(Encoding.UTF8.GetBytes(Body(key.Origin)), Signature);
    }

    /// <summary>
    /// The checkpoint as a C2SP signed note a witness can keep: the body, a blank line, and the signature line
    /// <c>— origin base64(key hash ‖ signature)</c> (c2sp.org/signed-note).
    /// </summary>
    public string ToSignedNote(ICheckpointVerifier key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var keyHash = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(keyHash, AuditKeys.NoteKeyHash(key.Origin, key.PublicKey));
        return $"{Body(key.Origin)}\n\u2014 {key.Origin} {Convert.ToBase64String([.. keyHash, .. Signature])}\n";
    }
}

/// <summary>One signature line of a signed note.</summary>
public sealed record NoteSignature(string KeyName, uint KeyHash, byte[] Signature);

/// <summary>A checkpoint read back from a signed note (see <see cref="Checkpoint.ToSignedNote"/>).</summary>
public sealed record CheckpointNote(string Origin, long TreeSize, byte[] RootHash, DateTimeOffset? Timestamp, string Body, IReadOnlyList<NoteSignature> Signatures)
{
    /// <summary>
    /// Parses a signed checkpoint note. Only the form is checked here; <see cref="ToCheckpoint"/> checks a signature.
    /// </summary>
    public static CheckpointNote Parse(string note)
    {
        ArgumentNullException.ThrowIfNull(note);
        note = note.Replace("\r\n", "\n", StringComparison.Ordinal);
        var split = note.LastIndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0)
        {
            throw new FormatException("A signed note is its text, a blank line and signature lines; no blank line was found.");
        }

        var body = note[..(split + 1)];
        var lines = body[..^1].Split('\n');
        if (lines.Length < 3 || lines.Any(l => l.Length == 0))
        {
            throw new FormatException("A checkpoint has an origin, a tree size and a root hash line, none empty.");
        }

        if (!long.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size)
            || size.ToString(CultureInfo.InvariantCulture) != lines[1])
        {
            throw new FormatException($"The checkpoint's tree size '{lines[1]}' is not a decimal number without leading zeros.");
        }

        byte[] root;
        try
        {
            root = Convert.FromBase64String(lines[2]);
        }
        catch (FormatException e)
        {
            throw new FormatException($"The checkpoint's root hash '{lines[2]}' is not base64.", e);
        }

        if (root.Length != MerkleTree.HashSize)
        {
            throw new FormatException($"The checkpoint's root hash is {root.Length} bytes, not {MerkleTree.HashSize}.");
        }

        DateTimeOffset? timestamp = null;
        foreach (var extension in lines.Skip(3))
        {
            if (extension.StartsWith(Checkpoint.TimestampExtension + " ", StringComparison.Ordinal))
            {
                timestamp = AuditEvent.ParseTime(extension[(Checkpoint.TimestampExtension.Length + 1)..]);
            }
        }

        var signatures = new List<NoteSignature>();
        foreach (var line in note[(split + 2)..].Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ');
            if (parts.Length != 3 || parts[0] != "\u2014")
            {
                throw new FormatException($"'{line}' is not a signature line ('— name base64').");
            }

            var blob = Convert.FromBase64String(parts[2]);
            if (blob.Length < 5)
            {
                throw new FormatException("A note signature holds a 4-byte key hash and a signature.");
            }

            signatures.Add(new NoteSignature(parts[1], BinaryPrimitives.ReadUInt32BigEndian(blob), blob[4..]));
        }

        return signatures.Count == 0
            ? throw new FormatException("The note has no signature.")
            : new CheckpointNote(lines[0], size, root, timestamp, body, signatures);
    }

    /// <summary>
    /// The checkpoint, when <paramref name="key"/> signed this note: its origin is the key's, one signature line names
    /// the key (name and key hash) and verifies. Null otherwise.
    /// </summary>
    public Checkpoint? ToCheckpoint(ICheckpointVerifier key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (Origin != key.Origin || Timestamp is not { } timestamp)
        {
            return null;
        }

        var keyHash = AuditKeys.NoteKeyHash(key.Origin, key.PublicKey);
        var bodyBytes = Encoding.UTF8.GetBytes(Body);
        foreach (var signature in Signatures)
        {
            if (signature.KeyName == key.Origin && signature.KeyHash == keyHash && key.Verify(bodyBytes, signature.Signature))
            {
                var checkpoint = new Checkpoint(TreeSize, RootHash, timestamp, signature.Signature, key.KeyId);

                // The body must be exactly the one this log signs, not another text that happens to carry a signature.
                return checkpoint.Body(key.Origin) == Body ? checkpoint : null;
            }
        }

        return null;
    }
}

/// <summary>Names and identifiers of audit-log keys (c2sp.org/signed-note, Ed25519 signature type 0x01).</summary>
public static class AuditKeys
{
    public const int PublicKeySize = 32;

    private const byte Ed25519SignatureType = 0x01;

    /// <summary>Lower-case hex SHA-256 of the raw public key.</summary>
    public static string KeyId(ReadOnlySpan<byte> publicKey)
    {
        RequirePublicKey(publicKey);
        return Convert.ToHexStringLower(SHA256.HashData(publicKey));
    }

    /// <summary>The log's origin for a key: <c>lineup.audit/</c> and the first 16 hex digits of its key id.</summary>
    public static string DefaultOrigin(ReadOnlySpan<byte> publicKey) => $"lineup.audit/{KeyId(publicKey)[..16]}";

    /// <summary>The signed-note key hash: the first four bytes, big-endian, of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).</summary>
    public static uint NoteKeyHash(string keyName, ReadOnlySpan<byte> publicKey)
    {
        RequireKeyName(keyName);
        RequirePublicKey(publicKey);
        byte[] input = [.. Encoding.UTF8.GetBytes(keyName), 0x0A, Ed25519SignatureType, .. publicKey];
        return BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(input));
    }

    /// <summary>The verifier key a witness configures: <c>name+hex(key hash)+base64(0x01 ‖ public key)</c>.</summary>
    public static string FormatVerifierKey(string keyName, ReadOnlySpan<byte> publicKey) =>
        $"{keyName}+{NoteKeyHash(keyName, publicKey):x8}+{Convert.ToBase64String([Ed25519SignatureType, .. publicKey])}";

    /// <summary>Reads <see cref="FormatVerifierKey"/>'s form, checking that the key hash matches the key.</summary>
    public static (string KeyName, byte[] PublicKey) ParseVerifierKey(string verifierKey)
    {
        ArgumentNullException.ThrowIfNull(verifierKey);
        // The name has no '+' and the key hash is hex, but base64 may hold '+': split at the first two only.
        var parts = verifierKey.Trim().Split('+', 3);
        if (parts.Length != 3 || !uint.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var keyHash) || parts[1].Length != 8)
        {
            throw new FormatException("A verifier key reads 'name+8 hex digits+base64'.");
        }

        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(parts[2]);
        }
        catch (FormatException e)
        {
            throw new FormatException("The verifier key's public key is not base64.", e);
        }

        if (blob.Length != 1 + PublicKeySize || blob[0] != Ed25519SignatureType)
        {
            throw new FormatException("The verifier key is not an Ed25519 key (type 0x01 and 32 bytes).");
        }

        var publicKey = blob[1..];
        return NoteKeyHash(parts[0], publicKey) == keyHash
            ? (parts[0], publicKey)
            : throw new FormatException("The verifier key's key hash does not match its name and public key.");
    }

    internal static void RequireKeyName(string keyName)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyName);
        if (keyName.Any(c => char.IsWhiteSpace(c) || c == '+' || char.IsControl(c)))
        {
            throw new ArgumentException($"Key name '{keyName}' must not contain spaces, '+' or control characters.", nameof(keyName));
        }
    }

    private static void RequirePublicKey(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != PublicKeySize)
        {
            throw new ArgumentException($"An Ed25519 public key is {PublicKeySize} bytes; got {publicKey.Length}.", nameof(publicKey));
        }
    }
}
