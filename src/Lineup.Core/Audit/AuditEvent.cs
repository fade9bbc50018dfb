using System.Globalization;
using System.Text;

namespace Lineup.Core.Audit;

/// <summary>The actions the audit log records. Other parts add their own (lower-case words joined by '-').</summary>
public static class AuditActions
{
    public const string SignIn = "sign-in";
    public const string Search = "search";
    public const string View = "view";
    public const string Confirm = "confirm";
    public const string Export = "export";
    public const string Admin = "admin";
    public const string Erasure = "erasure";

    /// <summary>A retention sweep: what expired was deleted and old events pruned (subject "sweep").</summary>
    public const string Retention = "retention";
}

/// <summary>
/// An action to be written to the audit log: who did what to which thing, with a few scalar facts. The log assigns the
/// sequence number and the time. <b>No biometric data</b>: see <see cref="AuditDetails"/>.
/// </summary>
public sealed class NewAuditEvent
{
    /// <param name="actor">Who acted: a user name, or a process such as "cli:alice" (1 to 128 characters).</param>
    /// <param name="action">What was done (<see cref="AuditActions"/>): a-z, 0-9 and '-', starting with a letter, at most 32.</param>
    /// <param name="subject">What it was done to, as "kind:id" (e.g. "search:12", "image:5"); 1 to 200 characters.</param>
    /// <param name="details">Scalar facts (outcome, counts, a hash prefix); none when null.</param>
    public NewAuditEvent(string actor, string action, string subject, AuditDetails? details = null)
    {
        Actor = AuditEvent.RequireText(actor, nameof(actor), AuditEvent.MaxActorLength);
        Action = AuditEvent.RequireAction(action);
        Subject = AuditEvent.RequireText(subject, nameof(subject), AuditEvent.MaxSubjectLength);
        Details = details ?? AuditDetails.Empty;
    }

    public string Actor { get; }

    public string Action { get; }

    public string Subject { get; }

    public AuditDetails Details { get; }

    /// <summary>The event as it is logged at <paramref name="seq"/> and <paramref name="at"/>.</summary>
    public AuditEvent At(long seq, DateTimeOffset at) => new(seq, at, Actor, Action, Subject, Details);
}

/// <summary>
/// One entry of the audit log: leaf <see cref="Seq"/> − 1 of its RFC 6962 Merkle tree. Its
/// <see cref="CanonicalBytes"/> are what the leaf hash covers, so a change to any field — the sequence number
/// included, which makes a reordering visible in the leaf itself — changes the leaf hash.
/// <para>
/// An event older than the audit time-to-live is <b>pruned</b> (<see cref="Pruned"/>): it keeps its sequence number, time
/// and leaf hash, so that the tree, every checkpoint and every proof still verify, and loses who did what to which thing
/// (<see cref="Actor"/>, <see cref="Action"/> and <see cref="Subject"/> read as empty, <see cref="Details"/> as none).
/// </para>
/// </summary>
public sealed class AuditEvent : IEquatable<AuditEvent>
{
    public const int MaxActorLength = 128;
    public const int MaxSubjectLength = 200;
    public const int MaxActionLength = 32;

    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    /// <summary>The leaf hash a pruned event keeps (its content, which the hash covered, is gone); null otherwise.</summary>
    private readonly byte[]? _prunedLeafHash;

    public AuditEvent(long seq, DateTimeOffset at, string actor, string action, string subject, AuditDetails details)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(seq, 1);
        ArgumentNullException.ThrowIfNull(details);
        Seq = seq;
        At = at.ToUniversalTime();
        Actor = RequireText(actor, nameof(actor), MaxActorLength);
        Action = RequireAction(action);
        Subject = RequireText(subject, nameof(subject), MaxSubjectLength);
        Details = details;
    }

    private AuditEvent(long seq, DateTimeOffset at, DateTimeOffset prunedAt, byte[] leafHash)
    {
        Seq = seq;
        At = at.ToUniversalTime();
        Actor = "";
        Action = "";
        Subject = "";
        Details = AuditDetails.Empty;
        PrunedAt = prunedAt.ToUniversalTime();
        _prunedLeafHash = leafHash;
    }

    /// <summary>
    /// An event whose content was pruned by retention: only its place in the log, its time and its stored leaf hash are
    /// left. Its leaf hash cannot be recomputed; the tree and the signed checkpoints still cover it.
    /// </summary>
    public static AuditEvent Pruned(long seq, DateTimeOffset at, DateTimeOffset prunedAt, ReadOnlySpan<byte> leafHash)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(seq, 1);
        if (leafHash.Length != MerkleTree.HashSize)
        {
            throw new ArgumentException($"A leaf hash is {MerkleTree.HashSize} bytes, not {leafHash.Length}.", nameof(leafHash));
        }

        return new AuditEvent(seq, at, prunedAt, leafHash.ToArray());
    }

    /// <summary>When retention pruned the event's content; null for an event that is whole.</summary>
    public DateTimeOffset? PrunedAt { get; }

    /// <summary>Whether retention pruned the event's content (<see cref="Pruned"/>).</summary>
    public bool IsPruned => _prunedLeafHash is not null;

    /// <summary>1-based position in the log; the Merkle leaf index is <c>Seq - 1</c>.</summary>
    public long Seq { get; }

    /// <summary>When the log recorded the event (UTC, 100 ns).</summary>
    public DateTimeOffset At { get; }

    public string Actor { get; }

    public string Action { get; }

    public string Subject { get; }

    public AuditDetails Details { get; }

    /// <summary>
    /// The deterministic UTF-8 bytes that are hashed: one JSON object, keys in this fixed order, no whitespace, texts
    /// escaped as in <see cref="AuditDetails"/>, the time as <see cref="FormatTime"/> writes it:
    /// <c>{"seq":1,"at":"2025-01-02T03:04:05.0000000Z","actor":"alice","action":"search","subject":"search:1","details":{…}}</c>.
    /// A pruned event has none (<see cref="InvalidOperationException"/>): what was hashed is gone.
    /// </summary>
    public byte[] CanonicalBytes()
    {
        if (IsPruned)
        {
            throw new InvalidOperationException($"Audit event {Seq} was pruned by retention: its content, and so its canonical bytes, are gone.");
        }

        var builder = new StringBuilder(160 + Details.ToCanonicalJson().Length);
        builder.Append("{\"seq\":").Append(Seq.ToString(CultureInfo.InvariantCulture));
        builder.Append(",\"at\":");
        CanonicalJson.WriteString(builder, FormatTime(At));
        builder.Append(",\"actor\":");
        CanonicalJson.WriteString(builder, Actor);
        builder.Append(",\"action\":");
        CanonicalJson.WriteString(builder, Action);
        builder.Append(",\"subject\":");
        CanonicalJson.WriteString(builder, Subject);
        builder.Append(",\"details\":").Append(Details.ToCanonicalJson()).Append('}');
        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    /// <summary>The Merkle leaf hash: SHA-256(0x00 ‖ <see cref="CanonicalBytes"/>); for a pruned event, the hash it kept.</summary>
    public byte[] LeafHash() => _prunedLeafHash is { } kept ? (byte[])kept.Clone() : MerkleTree.HashLeaf(CanonicalBytes());

    /// <summary>ISO-8601 UTC with 100 ns precision: the one spelling of an event time, in the leaf and in storage.</summary>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    /// <summary>Reads <see cref="FormatTime"/>'s spelling, and only it (<see cref="FormatException"/> otherwise).</summary>
    public static DateTimeOffset ParseTime(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var time = DateTimeOffset.ParseExact(text, TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        return FormatTime(time) == text ? time : throw new FormatException($"'{text}' is not a canonical audit time.");
    }

    public bool Equals(AuditEvent? other) =>
        other is not null
        && Seq == other.Seq && At == other.At && Actor == other.Actor && Action == other.Action && Subject == other.Subject
        && Details.Equals(other.Details)
        && PrunedAt == other.PrunedAt
        && (_prunedLeafHash is null ? other._prunedLeafHash is null : other._prunedLeafHash is not null && _prunedLeafHash.AsSpan().SequenceEqual(other._prunedLeafHash));

    public override bool Equals(object? obj) => Equals(obj as AuditEvent);

    public override int GetHashCode() => HashCode.Combine(Seq, At, Actor, Action, Subject, Details, PrunedAt);

    public override string ToString() => IsPruned
        ? $"{{\"seq\":{Seq.ToString(CultureInfo.InvariantCulture)},\"at\":\"{FormatTime(At)}\",\"pruned_at\":\"{FormatTime(PrunedAt!.Value)}\"}}"
        : Encoding.UTF8.GetString(CanonicalBytes());

    internal static string RequireText(string text, string name, int maxLength)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text, name);
        if (text.Length > maxLength)
        {
            throw new ArgumentException($"The audit event's {name} is {text.Length} characters; at most {maxLength} are allowed.", name);
        }

        CanonicalJson.RequirePlainText(text, $"audit event's {name}");
        return text;
    }

    internal static string RequireAction(string action)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(action);
        var valid = action.Length <= MaxActionLength && action[0] is >= 'a' and <= 'z';
        foreach (var c in action)
        {
            valid &= c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-';
        }

        return valid
            ? action
            : throw new ArgumentException($"Audit action '{action}' must be a-z, 0-9 and '-', start with a letter and be at most {MaxActionLength} characters.", nameof(action));
    }
}
