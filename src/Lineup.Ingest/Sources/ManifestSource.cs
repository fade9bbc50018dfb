using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lineup.Core.Catalog;

namespace Lineup.Ingest.Sources;

/// <summary>
/// Images listed in a manifest, one per row, with what the operator knows of where each came from: CSV with a
/// header row, or JSON Lines (one object per line). The format is told by the extension (<c>.csv</c>,
/// <c>.jsonl</c>, <c>.ndjson</c>), else by the first non-blank character (<c>{</c> means JSON Lines).
/// <para>
/// Fields, matched case-insensitively (<c>source_url</c>, <c>SourceUrl</c> and <c>source-url</c> are one
/// name): <c>path</c> (or <c>file</c>; required: a local path, relative to the manifest's folder, or a
/// <c>file:</c> URI), <c>source_url</c>, <c>page_url</c> (absolute http(s) URLs), <c>captured_at</c>,
/// <c>fetched_at</c> (ISO 8601 date or date-time; no zone means UTC), <c>licence</c> (or <c>license</c>,
/// <c>lawful_basis</c>, <c>note</c>), <c>record_id</c>. Other fields are ignored. Lineup never fetches from the
/// web: a row whose path is an http(s) address is refused.
/// </para>
/// <para>
/// Each data row is an item named <c>manifest.csv:12</c> (its line); its file is read only when the item is.
/// A bad row (malformed CSV or JSON, a bad date or URL, an empty path, a missing file) is a failed item
/// naming its line, and the rest goes on. The manifest streams: memory does not grow with its size.
/// </para>
/// </summary>
public sealed partial class ManifestSource(string path, SourceLimits limits) : IIngestSource
{
    /// <summary>Longest line (JSON Lines) or record (CSV) read, in characters.</summary>
    public const int MaxRecordChars = CsvReader.DefaultMaxRecordChars;

    private static readonly string[] s_dateFormats = BuildDateFormats();

    public string FullPath { get; } = Path.GetFullPath(path);

    public string Kind => "manifest";

    public string Description => FullPath;

    private string FileName => Path.GetFileName(FullPath);

    private string Folder => Path.GetDirectoryName(FullPath) ?? "/";

    public Task<long?> CountAsync(CancellationToken ct)
    {
        long count = 0;
        foreach (var _ in Rows(parse: false, ct))
        {
            count++;
        }

        return Task.FromResult<long?>(count);
    }

    public async IAsyncEnumerable<IngestItem> ReadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        foreach (var row in Rows(parse: true, ct))
        {
            yield return ToItem(row);
            await Task.Yield();
        }
    }

    /// <summary>A data row: its fields by normalised name, or why it could not be read.</summary>
    private readonly record struct Row(int Line, Dictionary<string, string?>? Fields, string? Error);

    private IEnumerable<Row> Rows(bool parse, CancellationToken ct)
    {
        var json = IsJsonLines();
        using var reader = OpenText();
        var rows = json ? JsonRows(reader, parse) : CsvRows(reader);
        foreach (var row in rows)
        {
            ct.ThrowIfCancellationRequested();
            yield return row;
        }
    }

    private IEnumerable<Row> CsvRows(TextReader reader)
    {
        string[]? header = null;
        foreach (var record in CsvReader.ReadRecords(reader, MaxRecordChars))
        {
            if (record.IsBlank)
            {
                continue;
            }

            if (header is null)
            {
                if (record.Error is not null)
                {
                    throw new IngestSourceException($"{FullPath}:{record.Line}: the header row cannot be read: {record.Error}");
                }

                header = [.. record.Fields.Select(Normalise)];
                if (!header.Contains("path") && !header.Contains("file"))
                {
                    throw new IngestSourceException($"{FullPath}: the header row has no 'path' (or 'file') column.");
                }

                continue;
            }

            if (record.Error is not null)
            {
                yield return new Row(record.Line, null, $"malformed CSV record: {record.Error}");
                continue;
            }

            if (record.Fields.Count > header.Length)
            {
                yield return new Row(record.Line, null, $"malformed CSV record: {record.Fields.Count} fields but the header has {header.Length}.");
                continue;
            }

            var fields = new Dictionary<string, string?>(StringComparer.Ordinal);
            for (var i = 0; i < record.Fields.Count; i++)
            {
                fields.TryAdd(header[i], record.Fields[i]);
            }

            yield return new Row(record.Line, fields, null);
        }

        if (header is null)
        {
            throw new IngestSourceException($"{FullPath}: empty, expected a header row.");
        }
    }

    private static IEnumerable<Row> JsonRows(TextReader reader, bool parse)
    {
        foreach (var (line, text) in Lines(reader))
        {
            if (text is null)
            {
                yield return new Row(line, null, $"the line is longer than {MaxRecordChars:N0} characters.");
                continue;
            }

            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            yield return parse ? ParseJsonLine(line, text) : new Row(line, null, null);
        }
    }

    private static Row ParseJsonLine(int line, string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return new Row(line, null, $"not a JSON object (found a JSON {document.RootElement.ValueKind.ToString().ToLowerInvariant()}).");
            }

            var fields = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                var value = property.Value;
                var scalar = value.ValueKind switch
                {
                    JsonValueKind.String => value.GetString(),
                    JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
                    JsonValueKind.Null => null,
                    _ => null,
                };
                var name = Normalise(property.Name);
                if (value.ValueKind is (JsonValueKind.Object or JsonValueKind.Array) && IsKnown(name))
                {
                    return new Row(line, null, $"'{property.Name}' must be a string, not a JSON {value.ValueKind.ToString().ToLowerInvariant()}.");
                }

                fields.TryAdd(name, scalar);
            }

            return new Row(line, fields, null);
        }
        catch (JsonException e)
        {
            return new Row(line, null, $"not valid JSON: {e.Message}");
        }
    }

    private IngestItem ToItem(Row row)
    {
        var location = $"{FileName}:{row.Line}";
        if (row.Fields is not { } fields)
        {
            return IngestItem.Failed(location, $"{location}: {row.Error}");
        }

        var written = (Field(fields, "path") ?? Field(fields, "file"))?.Trim();
        if (string.IsNullOrEmpty(written))
        {
            return IngestItem.Failed(location, $"{location}: empty path.");
        }

        var resolved = Resolve(written, location);
        if (resolved.Problem is { } problem)
        {
            return problem;
        }

        var full = resolved.Path!;
        string? error = null;
        var provenance = new Provenance(
            SourceUrl: WebUrl(fields, "source_url", ref error),
            PageUrl: WebUrl(fields, "page_url", ref error),
            CapturedAt: Date(fields, "captured_at", ref error),
            FetchedAt: Date(fields, "fetched_at", ref error),
            OriginalPath: full,
            RecordId: Field(fields, "record_id"),
            Licence: Field(fields, "licence") ?? Field(fields, "license") ?? Field(fields, "lawful_basis") ?? Field(fields, "note"));
        if (error is not null)
        {
            return IngestItem.Failed(location, $"{location}: {error}");
        }

        return new IngestItem(location, c => ReadFileAsync(full, written, location, c), provenance);
    }

    private readonly record struct Resolved(string? Path, IngestItem? Problem);

    private Resolved Resolve(string written, string location)
    {
        var scheme = SchemePattern().Match(written);
        if (scheme.Success)
        {
            var name = scheme.Groups[1].Value.ToLowerInvariant();
            if (name is "http" or "https")
            {
                return new(null, IngestItem.Refused(
                    location,
                    $"{location}: {written}: a web address; Lineup never fetches from the web, so list the path of a local copy."));
            }

            if (name == "file")
            {
                return Uri.TryCreate(written, UriKind.Absolute, out var uri) && uri.IsFile && uri.Host is "" or "localhost"
                    ? new(Path.GetFullPath(uri.LocalPath), null)
                    : new(null, IngestItem.Failed(location, $"{location}: {written}: not a local file: URI."));
            }

            if (written.Contains("://", StringComparison.Ordinal))
            {
                return new(null, IngestItem.Refused(location, $"{location}: {written}: only local paths and file: URIs are read, not {name}: addresses."));
            }
        }

        return new(Path.GetFullPath(written, Folder), null);
    }

    private async ValueTask<byte[]> ReadFileAsync(string full, string written, string location, CancellationToken ct)
    {
        var info = new FileInfo(full);
        if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is not { Exists: true })
        {
            throw new IngestItemFailedException($"{location}: {written}: a link whose target does not exist.");
        }

        if (!info.Exists)
        {
            throw new IngestItemFailedException(Directory.Exists(full)
                ? $"{location}: {written}: a folder, not a file."
                : $"{location}: {written}: no such file.");
        }

        // Devices and FIFOs report no length on Unix (and opening a FIFO would wait for a writer), and an empty
        // file holds no image: none of them is opened.
        if (info.Length == 0)
        {
            throw new IngestItemFailedException($"{location}: {written}: empty, or not a regular file.");
        }

        if (info.Length > limits.MaxItemBytes)
        {
            throw new IngestItemRefusedException($"{location}: {written}: {info.Length:N0} bytes is over the {limits.MaxItemBytes:N0}-byte limit.");
        }

        try
        {
            var file = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                // The measured length bounds the read: a file that grows meanwhile cannot push it past the limit.
                var buffer = new byte[info.Length];
                var read = await file.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
                return read == buffer.Length ? buffer : buffer[..read];
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IngestItemFailedException($"{location}: {written}: cannot be read: {e.Message}");
        }
    }

    private static string? Field(Dictionary<string, string?> fields, string name) =>
        fields.TryGetValue(Normalise(name), out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

    private static string? WebUrl(Dictionary<string, string?> fields, string name, ref string? error)
    {
        if (Field(fields, name) is not { } value)
        {
            return null;
        }

        if (Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
        {
            return value;
        }

        error ??= $"{name} '{value}' is not an absolute http(s) URL.";
        return null;
    }

    private static DateTimeOffset? Date(Dictionary<string, string?> fields, string name, ref string? error)
    {
        if (Field(fields, name) is not { } value)
        {
            return null;
        }

        if (DateTimeOffset.TryParseExact(value, s_dateFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
        {
            return date;
        }

        error ??= $"{name} '{value}' is not an ISO 8601 date or date-time.";
        return null;
    }

    private static string[] BuildDateFormats()
    {
        var formats = new List<string> { "yyyy-MM-dd" };
        foreach (var separator in new[] { "'T'", " " })
        {
            foreach (var time in new[] { "HH:mm", "HH:mm:ss", "HH:mm:ss.FFFFFFF" })
            {
                formats.Add($"yyyy-MM-dd{separator}{time}");
                formats.Add($"yyyy-MM-dd{separator}{time}K");
            }
        }

        return [.. formats];
    }

    /// <summary><c>Source URL</c>, <c>source-url</c>, <c>SourceUrl</c> → <c>sourceurl</c>.</summary>
    private static string Normalise(string name)
    {
        var text = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            if (c is not ('_' or '-' or ' ' or '\t'))
            {
                text.Append(char.ToLowerInvariant(c));
            }
        }

        return text.ToString();
    }

    private static bool IsKnown(string normalised) => normalised is
        "path" or "file" or "sourceurl" or "pageurl" or "capturedat" or "fetchedat"
        or "licence" or "license" or "lawfulbasis" or "note" or "recordid";

    [GeneratedRegex("^([A-Za-z][A-Za-z0-9+.-]+):")]
    private static partial Regex SchemePattern();

    private bool IsJsonLines()
    {
        var extension = Path.GetExtension(FullPath).ToLowerInvariant();
        if (extension == ".csv")
        {
            return false;
        }

        if (extension is ".jsonl" or ".ndjson")
        {
            return true;
        }

        using var reader = OpenText();
        int c;
        while ((c = reader.Read()) != -1 && char.IsWhiteSpace((char)c))
        {
        }

        return c == '{';
    }

    private StreamReader OpenText()
    {
        try
        {
            var file = new FileStream(FullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.SequentialScan);
            return new StreamReader(file, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new IngestSourceException($"{FullPath}: no such file.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IngestSourceException($"{FullPath}: cannot be read: {e.Message}", e);
        }
    }

    /// <summary>Lines with their 1-based numbers; a line over <see cref="MaxRecordChars"/> comes back null and is skipped unread.</summary>
    private static IEnumerable<(int Line, string? Text)> Lines(TextReader reader)
    {
        var text = new StringBuilder();
        var line = 1;
        var tooLong = false;
        var any = false;
        int c;
        while ((c = reader.Read()) != -1)
        {
            any = true;
            if (c == '\n')
            {
                yield return (line, tooLong ? null : text.ToString().TrimEnd('\r'));
                text.Clear();
                tooLong = false;
                any = false;
                line++;
                continue;
            }

            if (tooLong)
            {
                continue;
            }

            if (text.Length == MaxRecordChars)
            {
                tooLong = true;
                text.Clear();
                continue;
            }

            text.Append((char)c);
        }

        if (any)
        {
            yield return (line, tooLong ? null : text.ToString());
        }
    }
}
