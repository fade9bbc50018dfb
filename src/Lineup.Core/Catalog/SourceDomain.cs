using System.Globalization;

namespace Lineup.Core.Catalog;

/// <summary>
/// Host names as the source-domain filter compares them: lower case, internationalised names in their ASCII
/// (punycode) form, no trailing dot. A domain matches itself and every subdomain (<c>example.com</c> matches
/// <c>img.example.com</c>, never <c>badexample.com</c>).
/// </summary>
public static class SourceDomain
{
    private const int MaxHostLength = 253;
    private const int MaxLabelLength = 63;

    private static readonly IdnMapping s_idn = new();

    /// <summary>The normalised host of an absolute URL, or null when it has none (a relative path, a file URL).</summary>
    public static string? HostOf(string? url)
    {
        if (string.IsNullOrWhiteSpace(url) || !Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri) || uri.IsFile)
        {
            return null;
        }

        string host;
        try
        {
            host = uri.IdnHost;
        }
        catch (InvalidOperationException)
        {
            return null;
        }

        host = host.TrimEnd('.').ToLowerInvariant();
        return host.Length == 0 ? null : host;
    }

    /// <summary>
    /// Checks and normalises a domain given by a user (<c>Example.COM.</c> → <c>example.com</c>,
    /// <c>bücher.de</c> → <c>xn--bcher-kva.de</c>).
    /// </summary>
    /// <exception cref="FormatException">Not a bare host name: a URL, a path, a port, a wildcard, an empty label.</exception>
    public static string Normalize(string domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        var text = domain.Trim();
        if (text.Length == 0)
        {
            throw new FormatException("A source domain is empty.");
        }

        if (text.Contains("://", StringComparison.Ordinal))
        {
            throw new FormatException($"Source domain '{domain}' is a URL; give only its host, such as example.com.");
        }

        if (text.Contains('*', StringComparison.Ordinal))
        {
            throw new FormatException($"Source domain '{domain}' has a wildcard; subdomains are always included, give example.com.");
        }

        foreach (var c in text)
        {
            if (c is '/' or '\\' or '?' or '#' or '@' or ':' or '[' or ']' || char.IsWhiteSpace(c))
            {
                throw new FormatException($"Source domain '{domain}' is not a bare host name (it has '{c}'); give a host such as example.com.");
            }
        }

        if (text.EndsWith('.'))
        {
            text = text[..^1];
        }

        string ascii;
        try
        {
            ascii = s_idn.GetAscii(text).ToLowerInvariant();
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"Source domain '{domain}' is not a valid host name: {e.Message}", e);
        }

        if (ascii.Length > MaxHostLength)
        {
            throw new FormatException($"Source domain '{domain}' is longer than {MaxHostLength} characters.");
        }

        var labels = ascii.Split('.');
        var numeric = 0;
        foreach (var label in labels)
        {
            if (label.Length is 0 or > MaxLabelLength || label[0] == '-' || label[^1] == '-'
                || !label.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_'))
            {
                throw new FormatException($"Source domain '{domain}' has an invalid label '{label}'.");
            }

            numeric += label.All(char.IsAsciiDigit) ? 1 : 0;
        }

        // An IPv4 address matches only itself: "3.4" must not select 1.2.3.4 as if it were a subdomain.
        if (numeric == labels.Length && (labels.Length != 4 || labels.Any(l => !byte.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out _))))
        {
            throw new FormatException($"Source domain '{domain}' is neither a host name nor a full IPv4 address.");
        }

        return ascii;
    }

    /// <summary>True when <paramref name="host"/> (normalised) is <paramref name="domain"/> (normalised) or a subdomain of it.</summary>
    public static bool Matches(string host, string domain)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(domain);
        return host.Length == domain.Length
            ? string.Equals(host, domain, StringComparison.Ordinal)
            : host.Length > domain.Length && host[^(domain.Length + 1)] == '.' && host.EndsWith(domain, StringComparison.Ordinal);
    }

    /// <summary>
    /// The host with its labels in reverse order (<c>img.example.com</c> → <c>com.example.img</c>): a domain and all its
    /// subdomains are then one ordered range (<c>= d</c> or between <c>d + "."</c> and <c>d + "/"</c>), which an index
    /// serves without scanning.
    /// </summary>
    public static string Reverse(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var labels = host.Split('.');
        Array.Reverse(labels);
        return string.Join('.', labels);
    }
}
