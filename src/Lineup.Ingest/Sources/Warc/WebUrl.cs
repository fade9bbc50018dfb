using System.Text;
using AngleSharp.Dom;

namespace Lineup.Ingest.Sources.Warc;

/// <summary>
/// One spelling per web address, so that a link written in a page and the target URI of the record that
/// captured it compare equal: parsed and serialised by the WHATWG URL standard (AngleSharp's
/// <see cref="Url"/>: scheme and host lower-cased, default port dropped, dot segments resolved, spaces and
/// non-ASCII percent-encoded), the fragment dropped, percent-escapes upper-cased and those of unreserved
/// characters decoded (RFC 3986 §6.2.2). Only http and https addresses are kept.
/// </summary>
internal static class WebUrl
{
    /// <summary>The normalised absolute form of <paramref name="reference"/> read against <paramref name="baseUrl"/>; null when it is not an http(s) URL.</summary>
    public static string? Normalize(string reference, Url? baseUrl = null)
    {
        var trimmed = reference.Trim(" \t\n\r\f".ToCharArray());
        if (trimmed.Length == 0 || trimmed.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var url = baseUrl is null ? new Url(trimmed) : new Url(baseUrl, trimmed);
        return Normalize(url);
    }

    /// <summary>The normalised form of an already parsed URL; null when it is not a valid http(s) URL.</summary>
    public static string? Normalize(Url url)
    {
        if (url.IsInvalid || url.IsRelative || (url.Scheme != "http" && url.Scheme != "https"))
        {
            return null;
        }

        var href = url.Href;
        var hash = href.IndexOf('#');
        if (hash >= 0)
        {
            href = href[..hash];
        }

        return href.Contains('%') ? NormalizeEscapes(href) : href;
    }

    /// <summary>A parsed absolute http(s) URL, for resolving references against; null when it is not one.</summary>
    public static Url? Parse(string? absolute)
    {
        if (string.IsNullOrWhiteSpace(absolute))
        {
            return null;
        }

        var url = new Url(absolute.Trim());
        return url.IsInvalid || url.IsRelative || (url.Scheme != "http" && url.Scheme != "https") ? null : url;
    }

    private static string NormalizeEscapes(string href)
    {
        var builder = new StringBuilder(href.Length);
        for (var i = 0; i < href.Length; i++)
        {
            if (href[i] == '%' && i + 2 < href.Length && char.IsAsciiHexDigit(href[i + 1]) && char.IsAsciiHexDigit(href[i + 2]))
            {
                var value = Convert.ToByte(href.Substring(i + 1, 2), 16);
                var c = (char)value;
                if (char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~')
                {
                    builder.Append(c);
                }
                else
                {
                    builder.Append('%').Append(char.ToUpperInvariant(href[i + 1])).Append(char.ToUpperInvariant(href[i + 2]));
                }

                i += 2;
                continue;
            }

            builder.Append(href[i]);
        }

        return builder.ToString();
    }
}
