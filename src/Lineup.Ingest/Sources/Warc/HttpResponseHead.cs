using System.Text;
using System.Text.Unicode;

namespace Lineup.Ingest.Sources.Warc;

/// <summary>
/// The status line and the header fields ingest uses of an HTTP response recorded in a WARC block
/// (RFC 9112 §2-5): as the crawler received it, so still chunked and compressed.
/// </summary>
internal sealed class HttpResponseHead
{
    /// <summary>Longest header section read; a longer one is reported as malformed.</summary>
    public const int MaxBytes = 256 * 1024;

    /// <summary>The status code, or 0 when the status line is malformed.</summary>
    public int Status { get; private set; }

    /// <summary>Bytes of the head, blank line included; the body follows.</summary>
    public int Length { get; private set; }

    public string? ContentType { get; private set; }

    public string? TransferEncoding { get; private set; }

    public string? ContentEncoding { get; private set; }

    public string? Location { get; private set; }

    /// <summary>Why the head is malformed, or null.</summary>
    public string? Problem { get; private set; }

    /// <summary>A head whose blank line did not come within <see cref="MaxBytes"/>.</summary>
    public static HttpResponseHead TooLong() => new() { Problem = $"its HTTP header section is over {MaxBytes} bytes" };

    /// <summary>
    /// Parses the head at the start of <paramref name="data"/>; null when the blank line that ends it is not
    /// in <paramref name="data"/> yet. When <paramref name="wholeBlock"/> says nothing follows, a head
    /// without a blank line runs to the end (a body-less response).
    /// </summary>
    public static HttpResponseHead? TryParse(ReadOnlySpan<byte> data, bool wholeBlock)
    {
        var end = FindEnd(data);
        if (end < 0)
        {
            if (!wholeBlock)
            {
                return null;
            }

            end = data.Length;
        }

        var head = new HttpResponseHead { Length = end };
        var section = data[..end];
        var lineNumber = 0;
        var last = Field.None;
        foreach (var range in section.Split((byte)'\n'))
        {
            var line = section[range];
            if (line.EndsWith("\r"u8))
            {
                line = line[..^1];
            }

            lineNumber++;
            if (lineNumber == 1)
            {
                head.ParseStatusLine(line);
                continue;
            }

            if (line.IsEmpty)
            {
                break;
            }

            if (line[0] is (byte)' ' or (byte)'\t')
            {
                // An obsolete line folding (RFC 9112 §5.2) continues the previous field.
                head.Append(last, Latin1(line.Trim(" \t"u8)), folded: true);
                continue;
            }

            var colon = line.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(line[..colon]))
            {
                head.Problem ??= $"malformed HTTP header line {lineNumber}: \"{Preview(line)}\"";
                last = Field.None;
                continue;
            }

            last = Identify(line[..colon]);
            var value = line[(colon + 1)..].Trim(" \t"u8);

            // Browsers read a Location's bytes as UTF-8; the other fields used here are ASCII.
            head.Append(last, last == Field.Location && Utf8.IsValid(value) ? Encoding.UTF8.GetString(value) : Latin1(value), folded: false);
        }

        return head;
    }

    private void ParseStatusLine(ReadOnlySpan<byte> line)
    {
        // HTTP-version SP 3DIGIT [SP reason-phrase]; the version is not checked beyond its "HTTP/" prefix.
        var space = line.IndexOf((byte)' ');
        if (line.StartsWith("HTTP/"u8) && space > 5)
        {
            var rest = line[(space + 1)..].TrimStart((byte)' ');
            if (rest.Length >= 3 && char.IsAsciiDigit((char)rest[0]) && char.IsAsciiDigit((char)rest[1]) && char.IsAsciiDigit((char)rest[2])
                && (rest.Length == 3 || rest[3] is (byte)' ' or (byte)'\t'))
            {
                Status = ((rest[0] - '0') * 100) + ((rest[1] - '0') * 10) + (rest[2] - '0');
                return;
            }
        }

        Problem = $"malformed HTTP status line \"{Preview(line)}\"";
    }

    private void Append(Field field, string value, bool folded)
    {
        switch (field)
        {
            case Field.ContentType when folded:
                ContentType += " " + value;
                break;
            case Field.ContentType:
                ContentType ??= value;
                break;
            case Field.Location when folded:
                Location += value;
                break;
            case Field.Location:
                Location ??= value;
                break;
            case Field.TransferEncoding:
                TransferEncoding = Join(TransferEncoding, value, folded);
                break;
            case Field.ContentEncoding:
                ContentEncoding = Join(ContentEncoding, value, folded);
                break;
            default:
                break;
        }
    }

    /// <summary>Repeated coding fields form one comma-separated list (RFC 9110 §5.3).</summary>
    private static string Join(string? list, string value, bool folded) =>
        string.IsNullOrEmpty(list) ? value : folded ? $"{list} {value}" : $"{list}, {value}";

    private static Field Identify(ReadOnlySpan<byte> name) => name switch
    {
        _ when Ascii.EqualsIgnoreCase(name, "Content-Type"u8) => Field.ContentType,
        _ when Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8) => Field.TransferEncoding,
        _ when Ascii.EqualsIgnoreCase(name, "Content-Encoding"u8) => Field.ContentEncoding,
        _ when Ascii.EqualsIgnoreCase(name, "Location"u8) => Field.Location,
        _ => Field.None,
    };

    /// <summary>RFC 9110 §5.6.2 token characters.</summary>
    private static bool IsToken(ReadOnlySpan<byte> name)
    {
        foreach (var b in name)
        {
            if (!(char.IsAsciiLetterOrDigit((char)b) || "!#$%&'*+-.^_`|~"u8.Contains(b)))
            {
                return false;
            }
        }

        return true;
    }

    private static int FindEnd(ReadOnlySpan<byte> data)
    {
        var crlf = data.IndexOf("\r\n\r\n"u8);
        var lf = data.IndexOf("\n\n"u8);
        if (crlf >= 0 && (lf < 0 || crlf + 2 <= lf))
        {
            return crlf + 4;
        }

        return lf >= 0 ? lf + 2 : -1;
    }

    private static string Latin1(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    private static string Preview(ReadOnlySpan<byte> line)
    {
        var text = Latin1(line[..Math.Min(line.Length, 60)]);
        return new string([.. text.Select(c => c is >= ' ' and <= '~' ? c : '?')]) + (line.Length > 60 ? "…" : "");
    }

    private enum Field
    {
        None,
        ContentType,
        TransferEncoding,
        ContentEncoding,
        Location,
    }
}
