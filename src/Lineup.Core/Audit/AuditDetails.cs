using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Lineup.Core.Audit;

/// <summary>The kinds of value an audit detail can hold: scalars only.</summary>
public enum AuditValueKind
{
    Text,
    Integer,
    Number,
    Boolean,
}

/// <summary>One scalar detail of an audit event: a short text, an integer, a finite number or a boolean.</summary>
public readonly record struct AuditValue
{
    private readonly string? _text;
    private readonly long _integer;
    private readonly double _number;

    private AuditValue(AuditValueKind kind, string? text, long integer, double number)
    {
        Kind = kind;
        _text = text;
        _integer = integer;
        _number = number;
    }

    public AuditValueKind Kind { get; }

    public string? Text => Kind == AuditValueKind.Text ? _text ?? "" : null;

    public long? Integer => Kind == AuditValueKind.Integer ? _integer : null;

    public double? Number => Kind == AuditValueKind.Number ? _number : null;

    public bool? Boolean => Kind == AuditValueKind.Boolean ? _integer != 0 : null;

    internal static AuditValue FromText(string text) => new(AuditValueKind.Text, text, 0, 0);

    internal static AuditValue FromInteger(long value) => new(AuditValueKind.Integer, null, value, 0);

    internal static AuditValue FromNumber(double value) => new(AuditValueKind.Number, null, 0, value);

    internal static AuditValue FromBoolean(bool value) => new(AuditValueKind.Boolean, null, value ? 1 : 0, 0);

    /// <summary>The value as canonical JSON (see <see cref="AuditDetails.ToCanonicalJson"/>).</summary>
    public override string ToString()
    {
        var builder = new StringBuilder();
        CanonicalJson.WriteValue(builder, this);
        return builder.ToString();
    }
}

/// <summary>
/// The small, flat set of facts an audit event carries beside its actor, action and subject: outcome, counts, a hash
/// prefix, a reason. <b>No biometric data ever enters the audit log</b> — no image, no thumbnail, no embedding, no
/// landmark — and this type is shaped so that none can be passed by accident: values are scalars only (there is no
/// overload for bytes, arrays or spans), a text is at most <see cref="MaxTextLength"/> characters, and the whole set
/// is at most <see cref="MaxEntries"/> entries and <see cref="MaxCanonicalBytes"/> bytes, less than the 1,368
/// characters of base64 of a 512-dimension embedding even in half precision, however it is split. Refer to such data
/// by its catalog id or a hash instead.
/// </summary>
/// <remarks>
/// Immutable: <see cref="With(string, string)"/> and its overloads return a new set. The canonical form (what is
/// hashed into the Merkle leaf and stored) is a JSON object with keys in ordinal order, no whitespace, texts escaped
/// only where JSON requires (<c>\"</c> and <c>\\</c>; control characters are refused), integers in decimal, numbers in
/// .NET's shortest round-trip form with <c>.0</c> appended when it would otherwise read as an integer.
/// </remarks>
public sealed class AuditDetails : IEquatable<AuditDetails>
{
    public const int MaxEntries = 16;
    public const int MaxKeyLength = 32;
    public const int MaxTextLength = 256;
    public const int MaxCanonicalBytes = 1024;

    private readonly KeyValuePair<string, AuditValue>[] _entries;
    private readonly string _canonical;

    private AuditDetails(KeyValuePair<string, AuditValue>[] entries)
    {
        _entries = entries;
        var builder = new StringBuilder();
        CanonicalJson.WriteObject(builder, entries);
        _canonical = builder.ToString();
        var bytes = Encoding.UTF8.GetByteCount(_canonical);
        if (bytes > MaxCanonicalBytes)
        {
            throw new ArgumentException($"Audit details are limited to {MaxCanonicalBytes} bytes; these are {bytes}.");
        }
    }

    /// <summary>No details.</summary>
    public static AuditDetails Empty { get; } = new([]);

    /// <summary>The entries in ordinal key order.</summary>
    public IReadOnlyList<KeyValuePair<string, AuditValue>> Entries => _entries;

    public int Count => _entries.Length;

    public AuditValue? this[string key] =>
        Array.FindIndex(_entries, e => e.Key == key) is var i and >= 0 ? _entries[i].Value : null;

    /// <summary>This set with <paramref name="key"/> set to a text of at most <see cref="MaxTextLength"/> characters, without control characters.</summary>
    public AuditDetails With(string key, string value) => With(key, TextValue(key, value));

    /// <summary>This set with <paramref name="key"/> set to an integer.</summary>
    public AuditDetails With(string key, long value) => With(key, AuditValue.FromInteger(value));

    /// <summary>This set with <paramref name="key"/> set to a finite number.</summary>
    public AuditDetails With(string key, double value) => With(key, NumberValue(key, value));

    /// <summary>This set with <paramref name="key"/> set to a boolean.</summary>
    public AuditDetails With(string key, bool value) => With(key, AuditValue.FromBoolean(value));

    /// <summary>The canonical JSON object: the bytes the audit log hashes and stores.</summary>
    public string ToCanonicalJson() => _canonical;

    public override string ToString() => _canonical;

    /// <summary>Equal when the canonical forms are equal (the same entries with the same kinds and values).</summary>
    public bool Equals(AuditDetails? other) => other is not null && string.Equals(_canonical, other._canonical, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as AuditDetails);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_canonical);

    /// <summary>
    /// Reads details in canonical form, strictly: anything that <see cref="ToCanonicalJson"/> would not have written
    /// byte for byte (other key order, whitespace, escapes, number spelling, nesting, limits) is a
    /// <see cref="FormatException"/>, so that stored text and details correspond one to one.
    /// </summary>
    public static AuditDetails Parse(string canonicalJson)
    {
        ArgumentNullException.ThrowIfNull(canonicalJson);
        AuditDetails details;
        try
        {
            details = ParseLoose(canonicalJson);
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            throw new FormatException($"Audit details are not valid: {e.Message}", e);
        }

        if (!string.Equals(details._canonical, canonicalJson, StringComparison.Ordinal))
        {
            throw new FormatException("Audit details are not in canonical form.");
        }

        return details;
    }

    private static AuditDetails ParseLoose(string json)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json), new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new FormatException("Audit details must be a JSON object.");
        }

        // Collected and built once (not With after With): verification parses every event of the log.
        var entries = new List<KeyValuePair<string, AuditValue>>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var key = reader.GetString()!;
            CanonicalJson.RequireKey(key);
            if (entries.Count >= MaxEntries)
            {
                throw new FormatException($"Audit details hold at most {MaxEntries} entries.");
            }

            if (entries.Count > 0 && string.CompareOrdinal(entries[^1].Key, key) >= 0)
            {
                throw new FormatException($"Audit detail '{key}' is repeated or out of order (keys are unique, in ordinal order).");
            }

            reader.Read();
            var value = reader.TokenType switch
            {
                JsonTokenType.String => TextValue(key, reader.GetString()!),
                JsonTokenType.True => AuditValue.FromBoolean(true),
                JsonTokenType.False => AuditValue.FromBoolean(false),
                JsonTokenType.Number => ReadNumber(key, ref reader),
                _ => throw new FormatException($"Audit detail '{key}' is a {reader.TokenType}; only texts, numbers and booleans are allowed."),
            };
            entries.Add(new(key, value));
        }

        if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
        {
            throw new FormatException("Audit details have text after the object.");
        }

        return new AuditDetails([.. entries]);
    }

    private static AuditValue ReadNumber(string key, ref Utf8JsonReader reader)
    {
        var raw = reader.ValueSpan;
        if (raw.IndexOfAny(".eE"u8) >= 0)
        {
            return NumberValue(key, reader.GetDouble());
        }

        return reader.TryGetInt64(out var integer)
            ? AuditValue.FromInteger(integer)
            : throw new FormatException($"Audit detail '{key}' is an integer outside the 64-bit range.");
    }

    private static AuditValue TextValue(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length > MaxTextLength)
        {
            throw new ArgumentException(
                $"Audit detail '{key}' is {value.Length} characters; at most {MaxTextLength} are kept (refer to large or biometric data by id or hash).",
                nameof(value));
        }

        CanonicalJson.RequirePlainText(value, $"audit detail '{key}'");
        return AuditValue.FromText(value);
    }

    private static AuditValue NumberValue(string key, double value) =>
        double.IsFinite(value) ? AuditValue.FromNumber(value) : throw new ArgumentException($"Audit detail '{key}' must be a finite number.", nameof(value));

    private AuditDetails With(string key, AuditValue value)
    {
        CanonicalJson.RequireKey(key);
        var index = Array.FindIndex(_entries, e => e.Key == key);
        KeyValuePair<string, AuditValue>[] entries;
        if (index >= 0)
        {
            entries = (KeyValuePair<string, AuditValue>[])_entries.Clone();
            entries[index] = new(key, value);
        }
        else
        {
            if (_entries.Length >= MaxEntries)
            {
                throw new ArgumentException($"Audit details hold at most {MaxEntries} entries.", nameof(key));
            }

            entries = [.. _entries, new(key, value)];
            Array.Sort(entries, (a, b) => string.CompareOrdinal(a.Key, b.Key));
        }

        return new AuditDetails(entries);
    }
}

/// <summary>The one canonical JSON spelling used for audit events and their details.</summary>
internal static class CanonicalJson
{
    public static void RequireKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length is 0 or > AuditDetails.MaxKeyLength || key[0] is < 'a' or > 'z')
        {
            throw new ArgumentException($"Audit detail key '{key}' must be 1 to {AuditDetails.MaxKeyLength} characters starting with a-z.", nameof(key));
        }

        foreach (var c in key)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
            {
                throw new ArgumentException($"Audit detail key '{key}' may hold only a-z, 0-9 and _.", nameof(key));
            }
        }
    }

    /// <summary>Refuses control characters and unpaired surrogates: the canonical form escapes nothing but <c>"</c> and <c>\</c>.</summary>
    public static void RequirePlainText(string text, string what)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsControl(c))
            {
                throw new ArgumentException($"The {what} contains a control character (U+{(int)c:X4}).");
            }

            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                throw new ArgumentException($"The {what} contains an unpaired surrogate.");
            }
        }
    }

    public static void WriteString(StringBuilder builder, string text)
    {
        builder.Append('"');
        foreach (var c in text)
        {
            if (c is '"' or '\\')
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        builder.Append('"');
    }

    public static void WriteValue(StringBuilder builder, AuditValue value)
    {
        switch (value.Kind)
        {
            case AuditValueKind.Text:
                WriteString(builder, value.Text!);
                break;
            case AuditValueKind.Integer:
                builder.Append(value.Integer!.Value.ToString(CultureInfo.InvariantCulture));
                break;
            case AuditValueKind.Number:
                var text = value.Number!.Value.ToString("R", CultureInfo.InvariantCulture);
                builder.Append(text);
                if (text.AsSpan().IndexOfAny(".Ee") < 0)
                {
                    // Keeps a number a number when read back ("2" would come back as an integer).
                    builder.Append(".0");
                }

                break;
            case AuditValueKind.Boolean:
                builder.Append(value.Boolean!.Value ? "true" : "false");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(value), value.Kind, null);
        }
    }

    public static void WriteObject(StringBuilder builder, IReadOnlyList<KeyValuePair<string, AuditValue>> entries)
    {
        builder.Append('{');
        for (var i = 0; i < entries.Count; i++)
        {
            if (i > 0)
            {
                builder.Append(',');
            }

            WriteString(builder, entries[i].Key);
            builder.Append(':');
            WriteValue(builder, entries[i].Value);
        }

        builder.Append('}');
    }
}
