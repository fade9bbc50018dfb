using System.Security.Cryptography;
using System.Text;
using Lineup.Core.Audit;

namespace Lineup.Core.Tests.Audit;

/// <summary>
/// The checkpoint text (c2sp.org/tlog-checkpoint) and its signed-note form, with a stand-in signer (HMAC): the real
/// Ed25519 key is tested where the native library is, in the storage tests.
/// </summary>
public sealed class CheckpointNoteTests
{
    private static readonly DateTimeOffset s_at = DateTimeOffset.Parse("2025-06-01T12:00:00.5000000Z");

    [Fact]
    public void The_signed_body_is_origin_size_base64_root_and_a_timestamp_line()
    {
        var key = new HmacSigner(1);
        var root = SHA256.HashData("root"u8);
        var checkpoint = Checkpoint.Sign(key, 10_000, root, s_at);
        var body = checkpoint.Body(key.Origin);
        Assert.Equal($"{key.Origin}\n10000\n{Convert.ToBase64String(root)}\ntimestamp 2025-06-01T12:00:00.5000000Z\n", body);
        Assert.Equal(key.Sign(Encoding.UTF8.GetBytes(body)), checkpoint.Signature);
        Assert.True(checkpoint.IsSignedBy(key));
        Assert.Equal(key.KeyId, checkpoint.KeyId);
        Assert.StartsWith("lineup.audit/", key.Origin);
    }

    [Fact]
    public void Changing_the_size_root_time_or_key_breaks_the_signature()
    {
        var key = new HmacSigner(1);
        var checkpoint = Checkpoint.Sign(key, 500, SHA256.HashData("r"u8), s_at);
        Assert.False((checkpoint with { TreeSize = 499 }).IsSignedBy(key));
        Assert.False((checkpoint with { RootHash = SHA256.HashData("s"u8) }).IsSignedBy(key));
        Assert.False((checkpoint with { Timestamp = s_at.AddTicks(1) }).IsSignedBy(key));
        Assert.False(checkpoint.IsSignedBy(new HmacSigner(2)));
        var flipped = (byte[])checkpoint.Signature.Clone();
        flipped[^1] ^= 1;
        Assert.False((checkpoint with { Signature = flipped }).IsSignedBy(key));
    }

    [Fact]
    public void A_signed_note_reads_back_and_verifies_only_with_its_key_and_unchanged_text()
    {
        var key = new HmacSigner(7);
        var root = SHA256.HashData("tree"u8);
        var checkpoint = Checkpoint.Sign(key, 1234, root, s_at);
        var note = checkpoint.ToSignedNote(key);
        Assert.Matches($"^{key.Origin}\n1234\n[A-Za-z0-9+/=]{{44}}\ntimestamp [^\n]+\n\n\u2014 {key.Origin} [A-Za-z0-9+/=]+\n$", note);

        var parsed = CheckpointNote.Parse(note);
        Assert.Equal(key.Origin, parsed.Origin);
        Assert.Equal(1234, parsed.TreeSize);
        Assert.Equal(root, parsed.RootHash);
        Assert.Equal(s_at, parsed.Timestamp);
        var read = parsed.ToCheckpoint(key);
        Assert.NotNull(read);
        Assert.Equal(checkpoint.Signature, read.Signature);
        Assert.Equal(AuditKeys.NoteKeyHash(key.Origin, key.PublicKey), parsed.Signatures.Single().KeyHash);

        Assert.Null(parsed.ToCheckpoint(new HmacSigner(8)));
        Assert.Null(CheckpointNote.Parse(note.Replace("\n1234\n", "\n1235\n")).ToCheckpoint(key));
        Assert.Null(CheckpointNote.Parse(note.Replace("timestamp 2025", "timestamp 2024")).ToCheckpoint(key));
        Assert.Throws<FormatException>(() => CheckpointNote.Parse(note.Replace("\n1234\n", "\n01234\n")));
        Assert.Throws<FormatException>(() => CheckpointNote.Parse(note[..note.IndexOf('\u2014')]));
        Assert.Throws<FormatException>(() => CheckpointNote.Parse("no blank line"));
    }

    [Fact]
    public void Verifier_keys_round_trip_and_refuse_a_wrong_key_hash()
    {
        var key = new HmacSigner(3);
        var text = AuditKeys.FormatVerifierKey(key.Origin, key.PublicKey);
        Assert.Matches("^lineup\\.audit/[0-9a-f]{16}\\+[0-9a-f]{8}\\+[A-Za-z0-9+/=]+$", text);
        var (name, publicKey) = AuditKeys.ParseVerifierKey(text);
        Assert.Equal(key.Origin, name);
        Assert.Equal(key.PublicKey, publicKey);

        var parts = text.Split('+');
        var wrongHash = $"{parts[0]}+{(Convert.ToUInt32(parts[1], 16) ^ 1):x8}+{parts[2]}";
        Assert.Throws<FormatException>(() => AuditKeys.ParseVerifierKey(wrongHash));
        Assert.Throws<FormatException>(() => AuditKeys.ParseVerifierKey($"other.name+{parts[1]}+{parts[2]}"));
        Assert.Throws<FormatException>(() => AuditKeys.ParseVerifierKey("just-a-name"));

        // Base64 may itself hold '+' (and '/'): such keys read back too.
        var plus = Enumerable.Range(0, 1000).Select(i => SHA256.HashData(BitConverter.GetBytes(i)))
            .First(k => Convert.ToBase64String([0x01, .. k]).Count(c => c == '+') >= 2);
        Assert.Equal(plus, AuditKeys.ParseVerifierKey(AuditKeys.FormatVerifierKey("example.com/log", plus)).PublicKey);
    }

    [Fact]
    public void The_note_key_hash_follows_the_signed_note_recommendation()
    {
        var publicKey = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var expected = SHA256.HashData([.. "example.com/log"u8, 0x0A, 0x01, .. publicKey]);
        Assert.Equal(
            (uint)((expected[0] << 24) | (expected[1] << 16) | (expected[2] << 8) | expected[3]),
            AuditKeys.NoteKeyHash("example.com/log", publicKey));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(publicKey)), AuditKeys.KeyId(publicKey));
        Assert.Throws<ArgumentException>(() => AuditKeys.NoteKeyHash("has space", publicKey));
        Assert.Throws<ArgumentException>(() => AuditKeys.NoteKeyHash("has+plus", publicKey));
    }

    /// <summary>A stand-in for Ed25519: a 64-byte HMAC under a secret derived from the seed.</summary>
    private sealed class HmacSigner(int seed) : ICheckpointSigner
    {
        private readonly byte[] _secret = SHA256.HashData(BitConverter.GetBytes(seed));

        public byte[] PublicKey => SHA256.HashData([.. _secret, 1]);

        public string Origin => AuditKeys.DefaultOrigin(PublicKey);

        public string KeyId => AuditKeys.KeyId(PublicKey);

        public byte[] Sign(ReadOnlySpan<byte> message) => HMACSHA512.HashData(_secret, message);

        public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) =>
            CryptographicOperations.FixedTimeEquals(Sign(message), signature);
    }
}
