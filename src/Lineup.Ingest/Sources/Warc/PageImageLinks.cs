using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using AngleSharp.Text;

namespace Lineup.Ingest.Sources.Warc;

/// <summary>
/// The images a captured HTML page embeds: <c>&lt;img src&gt;</c>, <c>&lt;img srcset&gt;</c>, the lazy-loading
/// <c>data-src</c>/<c>data-srcset</c> of <c>&lt;img&gt;</c>, and <c>srcset</c> of <c>&lt;source&gt;</c> inside
/// <c>&lt;picture&gt;</c>; each read against the page's <c>&lt;base href&gt;</c> (else the page URL) and
/// normalised by <see cref="WebUrl"/>. Other references (CSS backgrounds, <c>og:image</c>, icons) are not
/// taken as embedded photos.
/// </summary>
internal sealed class PageImageLinks
{
    // One parser per scan: parsers are cheap to reuse but not documented as safe to share between threads.
    private readonly HtmlParser _parser = new(new HtmlParserOptions { IsScripting = false });

    /// <summary>
    /// The distinct normalised image URLs of the page in <paramref name="html"/>. The character encoding is
    /// taken from a byte-order mark, else from the HTTP <paramref name="charset"/>, else from the page's own
    /// <c>&lt;meta charset&gt;</c> (UTF-8 when none says).
    /// </summary>
    public List<string> Extract(byte[] html, int length, string? charset, Url pageUrl)
    {
        var document = Parse(html, length, charset);
        var baseUrl = pageUrl;
        if (document.QuerySelector("base[href]")?.GetAttribute("href") is { } href
            && WebUrl.Normalize(href, pageUrl) is { } resolvedBase)
        {
            baseUrl = new Url(resolvedBase);
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var links = new List<string>();
        void Add(string? reference)
        {
            if (reference is not null && WebUrl.Normalize(reference, baseUrl) is { } url && seen.Add(url))
            {
                links.Add(url);
            }
        }

        foreach (var element in document.QuerySelectorAll("img, picture > source"))
        {
            if (element.LocalName == "img")
            {
                Add(element.GetAttribute("src"));
                Add(element.GetAttribute("data-src"));
            }

            foreach (var attribute in (ReadOnlySpan<string>)["srcset", "data-srcset"])
            {
                if (element.GetAttribute(attribute) is { } srcset)
                {
                    foreach (var candidate in SrcsetUrls(srcset))
                    {
                        Add(candidate);
                    }
                }
            }
        }

        return links;
    }

    /// <summary>
    /// The URLs of a <c>srcset</c> (HTML "parse a srcset attribute"): candidates are separated by commas; a
    /// URL is a run of non-whitespace, from which trailing commas are removed; descriptors (<c>2x</c>,
    /// <c>640w</c>) follow it up to the next comma outside parentheses. A comma inside a URL stays.
    /// </summary>
    public static IEnumerable<string> SrcsetUrls(string srcset)
    {
        var position = 0;
        while (true)
        {
            while (position < srcset.Length && (IsSpace(srcset[position]) || srcset[position] == ','))
            {
                position++;
            }

            if (position >= srcset.Length)
            {
                yield break;
            }

            var start = position;
            while (position < srcset.Length && !IsSpace(srcset[position]))
            {
                position++;
            }

            var url = srcset[start..position];
            var endsWithComma = url.EndsWith(',');
            url = url.TrimEnd(',');
            if (url.Length > 0)
            {
                yield return url;
            }

            if (endsWithComma)
            {
                continue;
            }

            var depth = 0;
            while (position < srcset.Length && (srcset[position] != ',' || depth > 0))
            {
                depth += srcset[position] switch
                {
                    '(' => 1,
                    ')' when depth > 0 => -1,
                    _ => 0,
                };
                position++;
            }
        }
    }

    private static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\r' or '\f';

    private IDocument Parse(byte[] buffer, int length, string? charset)
    {
        var html = buffer.AsSpan(0, length);
        var hasBom = html.StartsWith([(byte)0xEF, (byte)0xBB, (byte)0xBF]) || html.StartsWith([(byte)0xFE, (byte)0xFF]) || html.StartsWith([(byte)0xFF, (byte)0xFE]);
        if (!hasBom && !string.IsNullOrWhiteSpace(charset) && TextEncoding.Resolve(charset.Trim().Trim('"', '\'')) is { } encoding)
        {
            // The HTTP charset is certain (HTML §13.2.3.1): decode here so that a <meta charset> cannot override it.
            return _parser.ParseDocument(encoding.GetString(html));
        }

        // A byte-order mark, else the page's own <meta charset>, found by AngleSharp's encoding prescan.
        using var stream = new MemoryStream(buffer, 0, length, writable: false);
        return _parser.ParseDocument(stream);
    }

    /// <summary>The charset parameter of a Content-Type value, or null.</summary>
    public static string? Charset(string? contentType)
    {
        if (contentType is null)
        {
            return null;
        }

        foreach (var parameter in contentType.Split(';').Skip(1))
        {
            var equals = parameter.IndexOf('=');
            if (equals > 0 && parameter[..equals].Trim().Equals("charset", StringComparison.OrdinalIgnoreCase))
            {
                return parameter[(equals + 1)..].Trim().Trim('"', '\'');
            }
        }

        return null;
    }
}
