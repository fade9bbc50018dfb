using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Lineup.Core.Audit;

namespace Lineup.Core.Tests.Audit;

/// <summary>Audit events: the canonical bytes that are hashed, and the details that cannot carry biometric data.</summary>
public sealed class AuditEventTests
{
    private static readonly DateTimeOffset s_at = DateTimeOffset.Parse("2025-03-04T05:06:07.1234567Z");

    private static AuditEvent Sample() =>
        new(42, s_at, "alice", AuditActions.Search, "search:12",
            AuditDetails.Empty.With("outcome", "candidates").With("candidates", 3).With("override", false).With("score", 0.5));

    [Fact]
    public void The_canonical_bytes_are_one_fixed_JSON_spelling_and_the_leaf_hash_covers_them()
    {
        var e = Sample();
        const string expected =
            "{\"seq\":42,\"at\":\"2025-03-04T05:06:07.1234567Z\",\"actor\":\"alice\",\"action\":\"search\",\"subject\":\"search:12\"," +
            "\"details\":{\"candidates\":3,\"outcome\":\"candidates\",\"override\":false,\"score\":0.5}}";
        Assert.Equal(expected, Encoding.UTF8.GetString(e.CanonicalBytes()));
        Assert.Equal(SHA256.HashData([0x00, .. Encoding.UTF8.GetBytes(expected)]), e.LeafHash());

        // A time given in another offset is the same instant and the same bytes.
        var shifted = new AuditEvent(42, s_at.ToOffset(TimeSpan.FromHours(-5)), "alice", "search", "search:12", e.Details);
        Assert.Equal(e.CanonicalBytes(), shifted.CanonicalBytes());
        Assert.Equal(e, shifted);
    }

    [Fact]
    public void Changing_any_field_changes_the_leaf_hash()
    {
        var e = Sample();
        AuditEvent[] changed =
        [
            new(43, e.At, e.Actor, e.Action, e.Subject, e.Details),
            new(e.Seq, e.At.AddTicks(1), e.Actor, e.Action, e.Subject, e.Details),
            new(e.Seq, e.At, "alicf", e.Action, e.Subject, e.Details),
            new(e.Seq, e.At, e.Actor, "view", e.Subject, e.Details),
            new(e.Seq, e.At, e.Actor, e.Action, "search:13", e.Details),
            new(e.Seq, e.At, e.Actor, e.Action, e.Subject, e.Details.With("candidates", 4)),
            new(e.Seq, e.At, e.Actor, e.Action, e.Subject, e.Details.With("score", 0.5000001)),
            new(e.Seq, e.At, e.Actor, e.Action, e.Subject, e.Details.With("extra", "")),
        ];
        var hashes = changed.Select(c => Convert.ToHexString(c.LeafHash())).Append(Convert.ToHexString(e.LeafHash())).ToList();
        Assert.Equal(hashes.Count, hashes.Distinct().Count());
        Assert.All(changed, c => Assert.NotEqual(e, c));
    }

    [Fact]
    public void Texts_are_escaped_only_where_JSON_requires_and_read_back_exactly()
    {
        var details = AuditDetails.Empty
            .With("b", "quote \" backslash \\ slash / é 日本 😀")
            .With("a", -7)
            .With("c", 2.0)
            .With("d", 1e21)
            .With("e", true);
        const string expected = "{\"a\":-7,\"b\":\"quote \\\" backslash \\\\ slash / é 日本 😀\",\"c\":2.0,\"d\":1E+21,\"e\":true}";
        Assert.Equal(expected, details.ToCanonicalJson());

        var read = AuditDetails.Parse(expected);
        Assert.Equal(details, read);
        Assert.Equal(2.0, read["c"]!.Value.Number);
        Assert.Equal(AuditValueKind.Number, read["c"]!.Value.Kind);
        Assert.Equal(-7, read["a"]!.Value.Integer);
        Assert.Equal("quote \" backslash \\ slash / é 日本 😀", read["b"]!.Value.Text);
        Assert.True(read["e"]!.Value.Boolean);
        Assert.Null(read["missing"]);
    }

    [Theory]
    [InlineData("{ \"a\":1}")]
    [InlineData("{\"a\":1} ")]
    [InlineData("{\"b\":1,\"a\":2}")]
    [InlineData("{\"a\":1,\"a\":2}")]
    [InlineData("{\"a\":01}")]
    [InlineData("{\"a\":1.50}")]
    [InlineData("{\"a\":2}x")]
    [InlineData("{\"a\":\"\\u0041\"}")]
    [InlineData("{\"a\":\"\\/\"}")]
    [InlineData("{\"a\":[1]}")]
    [InlineData("{\"a\":{\"b\":1}}")]
    [InlineData("{\"a\":null}")]
    [InlineData("{\"A\":1}")]
    [InlineData("[]")]
    [InlineData("")]
    [InlineData("{\"a\":\"line\\nbreak\"}")]
    [InlineData("{\"a\":99999999999999999999}")]
    public void Details_that_are_not_byte_for_byte_canonical_are_refused(string text) =>
        Assert.Throws<FormatException>(() => AuditDetails.Parse(text));

    [Fact]
    public void Details_cannot_carry_an_embedding_or_image_bytes()
    {
        // Only scalar overloads exist: no byte[], float[], span or object parameter can be passed by accident.
        var valueTypes = typeof(AuditDetails).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m.Name == nameof(AuditDetails.With))
            .Select(m => m.GetParameters()[1].ParameterType)
            .ToHashSet();
        Assert.Equal(new HashSet<Type> { typeof(string), typeof(long), typeof(double), typeof(bool) }, valueTypes);

        // A 512-dimension embedding as base64 (half or single precision) or as text does not fit in a value...
        var asHalf = Convert.ToBase64String(new byte[512 * 2]);
        var asSingle = Convert.ToBase64String(new byte[512 * 4]);
        Assert.Throws<ArgumentException>(() => AuditDetails.Empty.With("embedding", asHalf));
        Assert.Throws<ArgumentException>(() => AuditDetails.Empty.With("embedding", asSingle));
        Assert.Throws<ArgumentException>(() => AuditDetails.Empty.With("embedding", string.Join(",", new float[512])));

        // ...nor, split into chunks, in the whole set: its canonical form is capped below the smallest of them.
        Assert.True(asHalf.Length > AuditDetails.MaxCanonicalBytes);
        var chunked = AuditDetails.Empty;
        var stored = 0;
        var thrown = Assert.Throws<ArgumentException>(() =>
        {
            for (var at = 0; at < asHalf.Length; at += AuditDetails.MaxTextLength)
            {
                chunked = chunked.With($"part{at}", asHalf.Substring(at, Math.Min(AuditDetails.MaxTextLength, asHalf.Length - at)));
                stored = at + AuditDetails.MaxTextLength;
            }
        });
        Assert.Contains($"{AuditDetails.MaxCanonicalBytes} bytes", thrown.Message);
        Assert.True(stored < asHalf.Length);
        Assert.True(Encoding.UTF8.GetByteCount(chunked.ToCanonicalJson()) <= AuditDetails.MaxCanonicalBytes);

        var many = AuditDetails.Empty;
        for (var i = 0; i < AuditDetails.MaxEntries; i++)
        {
            many = many.With($"k{i}", i);
        }

        Assert.Throws<ArgumentException>(() => many.With("one_more", 1));
        Assert.Equal(AuditDetails.MaxEntries, many.With("k3", 99).Count);
    }

    [Theory]
    [InlineData("", "x")]
    [InlineData("Upper", "x")]
    [InlineData("1digit", "x")]
    [InlineData("has-dash", "x")]
    [InlineData("ok", "tab\there")]
    [InlineData("ok", "nul\0")]
    public void Bad_keys_and_control_characters_are_refused(string key, string value) =>
        Assert.Throws<ArgumentException>(() => AuditDetails.Empty.With(key, value));

    [Fact]
    public void Non_finite_numbers_and_unpaired_surrogates_are_refused()
    {
        Assert.Throws<ArgumentException>(() => AuditDetails.Empty.With("x", double.NaN));
        Assert.Throws<ArgumentException>(() => AuditDetails.Empty.With("x", double.PositiveInfinity));

        // Built at run time: an attribute argument would store the lone surrogate as U+FFFD.
        Assert.Throws<ArgumentException>(() => AuditDetails.Empty.With("x", new string(['a', (char)0xD800, 'b'])));
        Assert.Throws<ArgumentException>(() => AuditDetails.Empty.With("x", new string([(char)0xDC00])));
        Assert.Equal("😀", AuditDetails.Empty.With("x", "😀")["x"]!.Value.Text);
    }

    [Theory]
    [InlineData("", "search", "s:1")]
    [InlineData("alice", "", "s:1")]
    [InlineData("alice", "Search", "s:1")]
    [InlineData("alice", "sign in", "s:1")]
    [InlineData("alice", "-x", "s:1")]
    [InlineData("alice", "search", "")]
    [InlineData("al\nice", "search", "s:1")]
    public void Actor_action_and_subject_are_checked(string actor, string action, string subject) =>
        Assert.ThrowsAny<ArgumentException>(() => new NewAuditEvent(actor, action, subject));

    [Fact]
    public void Times_are_read_only_in_their_one_spelling()
    {
        Assert.Equal(s_at, AuditEvent.ParseTime("2025-03-04T05:06:07.1234567Z"));
        Assert.Throws<FormatException>(() => AuditEvent.ParseTime("2025-03-04T05:06:07.123456Z"));
        Assert.Throws<FormatException>(() => AuditEvent.ParseTime("2025-03-04t05:06:07.1234567Z"));
        Assert.Throws<FormatException>(() => AuditEvent.ParseTime("2025-03-04T05:06:07.1234567+00:00"));
    }
}
