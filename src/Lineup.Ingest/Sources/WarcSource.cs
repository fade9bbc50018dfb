using System.Globalization;
using System.Runtime.CompilerServices;
using Lineup.Core.Catalog;
using Lineup.Core.Imaging;
using Lineup.Ingest.Sources.Warc;

namespace Lineup.Ingest.Sources;

/// <summary>
/// The images in a WARC file (ISO 28500, WARC/1.0 and 1.1; plain, gzip per record as wget, Heritrix and
/// Common Crawl write it, or gzip over the whole file, told apart by the magic bytes), with the pages
/// that embed them.
/// </summary>
/// <remarks>
/// <para>
/// An item is a 2xx <c>response</c> record (HTTP, de-chunked, content coding undone) or a <c>resource</c>
/// record whose payload is typed <c>image/*</c> or, untyped or <c>application/octet-stream</c>, starts
/// with a JPEG, PNG, GIF, WebP or BMP signature. Its provenance carries WARC-Target-URI, WARC-Date,
/// WARC-Record-ID, the record's place in the file and the pages that embed the image. Other records
/// (requests, warcinfo, metadata, revisits, redirects and other non-2xx responses, other types) yield
/// nothing.
/// </para>
/// <para>
/// Item names are <c>&lt;file name&gt;@&lt;location&gt;</c>, and provenance's OriginalPath is
/// <c>&lt;full path&gt;@&lt;location&gt;</c>. The location is the byte offset of the record's version line
/// in a plain file; in a gzip file it is the offset of the gzip member in which the record starts, the
/// offset that CDX indexes and <c>warcio extract</c> use, followed by <c>+n</c> when the record starts n
/// bytes into that member's decompressed data (more than one record per member, as in a whole-file gzip).
/// Both are stable for the same file.
/// </para>
/// <para>
/// A crawl may hold an image before the page that embeds it, so <see cref="ReadAsync"/> reads the file
/// twice: the first pass parses HTML responses (up to <see cref="SourceLimits.MaxHtmlBytes"/>) for
/// image links and counts the items; the second yields them. The first pass is done once per source and
/// its result kept (it is also what <see cref="CountAsync"/> returns): the image URLs the file holds, each
/// with at most <see cref="MaxPagesPerImage"/> pages. Damage is reported as <see cref="IngestItem.Failed"/>
/// items named by the record's location (a wrong or missing Content-Length, a malformed HTTP head in a
/// 2xx response, a truncated file, a corrupt gzip member) and reading goes on from the next record where
/// there is one. A Content-Length that is too large costs only its own record: the records inside the
/// bytes it claimed are still read (see <see cref="WarcRecordReader"/>). A record whose WARC-Truncated
/// field says the crawler cut it short fails too.
/// </para>
/// </remarks>
public sealed class WarcSource(string path, SourceLimits limits) : IIngestSource
{
    /// <summary>Pages kept per image URL; an image on every page of a site (a logo) would otherwise grow without bound.</summary>
    public const int MaxPagesPerImage = 50;

    private static readonly IngestItem s_counted = IngestItem.Failed("counted", "counted in the first pass");

    private readonly SemaphoreSlim _scanGate = new(1, 1);
    private Scan? _scan;

    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public string Kind => "warc";

    public string Description => Path;

    private string FileName => System.IO.Path.GetFileName(Path);

    /// <summary>
    /// The number of items <see cref="ReadAsync"/> yields: image records plus places reported as damaged.
    /// Reads the file once (the first pass of <see cref="ReadAsync"/>, which it then need not repeat).
    /// </summary>
    public async Task<long?> CountAsync(CancellationToken ct) => (await ScanAsync(ct).ConfigureAwait(false)).Items;

    public async IAsyncEnumerable<IngestItem> ReadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var scan = await ScanAsync(ct).ConfigureAwait(false);
        await foreach (var item in WalkAsync(index: null, scan.Pages, ct).ConfigureAwait(false))
        {
            yield return item;
        }
    }

    /// <summary>The first pass, done once: items counted, pages indexed by the image URLs they embed.</summary>
    private async Task<Scan> ScanAsync(CancellationToken ct)
    {
        if (_scan is { } done)
        {
            return done;
        }

        await _scanGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_scan is null)
            {
                var index = new PageIndex(MaxPagesPerImage);
                long items = 0;
                await foreach (var _ in WalkAsync(index, pages: null, ct).ConfigureAwait(false))
                {
                    items++;
                }

                _scan = new Scan(items, index.Build());
            }

            return _scan;
        }
        finally
        {
            _scanGate.Release();
        }
    }

    /// <summary>
    /// One pass over the records. With an <paramref name="index"/> (the first pass) pages are indexed and
    /// image payloads are not read; otherwise images are read and given the <paramref name="pages"/> that
    /// embed them. Both passes decide the same way which records yield an item, so the counts agree.
    /// </summary>
    private async IAsyncEnumerable<IngestItem> WalkAsync(
        PageIndex? index, IReadOnlyDictionary<string, IReadOnlyList<string>>? pages, [EnumeratorCancellation] CancellationToken ct)
    {
        var input = await WarcInput.OpenAsync(Path, ct).ConfigureAwait(false);
        await using var reader = new WarcRecordReader(input, FileName, limits.MaxItemBytes);
        if (!await Guard(() => reader.StartAsync(Path, ct)).ConfigureAwait(false))
        {
            yield break;
        }

        var links = index is null ? null : new PageImageLinks();
        while (await Guard(() => reader.NextAsync(ct)).ConfigureAwait(false) is { } header)
        {
            var item = header.Problem is { } problem
                ? Failed(header, problem)
                : await Guard(() => ProcessAsync(reader, header, index, links, pages, ct)).ConfigureAwait(false);
            if (await Guard(() => reader.FinishAsync(header, ct)).ConfigureAwait(false) is { } damage)
            {
                item = Failed(header, damage);
            }

            if (item is not null)
            {
                yield return item;
            }
        }
    }

    /// <summary>A file that cannot be read any further (a disk error) is a source error, named by its path.</summary>
    private async ValueTask<T> Guard<T>(Func<ValueTask<T>> step)
    {
        try
        {
            return await step().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IngestSourceException($"{Path}: cannot be read: {e.Message}", e);
        }
    }

    /// <summary>The item a sound record yields, or null; the block is left wherever reading stopped.</summary>
    private async ValueTask<IngestItem?> ProcessAsync(
        WarcRecordReader reader, WarcRecordHeader header, PageIndex? index, PageImageLinks? links,
        IReadOnlyDictionary<string, IReadOnlyList<string>>? pages, CancellationToken ct)
    {
        var isResponse = string.Equals(header.Type, "response", StringComparison.OrdinalIgnoreCase);
        if (!isResponse && !string.Equals(header.Type, "resource", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (isResponse && header.ContentLength == 0)
        {
            // An empty response block (a failed fetch some crawlers still record) holds no message at all.
            return null;
        }

        try
        {
            HttpResponseHead? http = null;
            var contentType = header.ContentType;
            if (isResponse && await IsHttpAsync(reader, header, ct).ConfigureAwait(false))
            {
                http = await ReadHttpHeadAsync(reader, ct).ConfigureAwait(false);
                if (http is null)
                {
                    return null;
                }

                // Only a 2xx response carries the resource; a malformed head elsewhere loses nothing.
                var success = http.Status is >= 200 and < 300;
                if (http.Problem is not null && (success || http.Status == 0))
                {
                    return Failed(header, $"record {header.Ordinal} ({header.Url}): {http.Problem}");
                }

                if (index is not null && http.Status is >= 300 and < 400 && http.Location is { } location
                    && WebUrl.Parse(header.Url) is { } from && WebUrl.Normalize(from) is { } source
                    && WebUrl.Normalize(location, from) is { } target)
                {
                    index.AddRedirect(source, target);
                }

                if (!success)
                {
                    return null;
                }

                contentType = http.ContentType;
            }

            var kind = Classify(contentType);
            if (kind == PayloadKind.Page)
            {
                if (isResponse && index is not null && links is not null)
                {
                    await IndexPageAsync(reader, header, http, contentType, index, links, ct).ConfigureAwait(false);
                }

                return null;
            }

            if (kind == PayloadKind.Other)
            {
                return null;
            }

            var (payload, length, problem) = await WarcPayload.OpenAsync(reader, http?.TransferEncoding, http?.ContentEncoding, ct).ConfigureAwait(false);
            await using (payload.ConfigureAwait(false))
            {
                if (kind == PayloadKind.Unknown)
                {
                    // Untyped: an image only if its first bytes say so (an undecodable payload cannot say).
                    if (problem is not null)
                    {
                        return null;
                    }

                    var head = await payload.PeekAsync(ImageSignatures.PeekBytes, ct).ConfigureAwait(false);
                    if (ImageSignatures.Sniff(head.Span) == ImageFormat.Unknown)
                    {
                        return null;
                    }
                }

                return await ImageAsync(header, payload, length, problem, index, pages, ct).ConfigureAwait(false);
            }
        }
        catch (WarcBlockCutException)
        {
            // The file ended inside this record; FinishAsync reports it.
            return null;
        }
        catch (InvalidDataException e)
        {
            return Failed(header, $"record {header.Ordinal} ({header.Url}): its payload cannot be decoded: {e.Message}");
        }
    }

    private async ValueTask<IngestItem> ImageAsync(
        WarcRecordHeader header, PeekableStream payload, long? length, string? problem, PageIndex? index,
        IReadOnlyDictionary<string, IReadOnlyList<string>>? pages, CancellationToken ct)
    {
        var url = WebUrl.Parse(header.Url) is { } parsed ? WebUrl.Normalize(parsed) : null;
        if (index is not null)
        {
            if (url is not null)
            {
                index.AddImage(url);
            }

            return s_counted;
        }

        IReadOnlyList<string> embedding = url is not null && pages is not null && pages.TryGetValue(url, out var found) ? found : [];
        var provenance = new Provenance(
            SourceUrl: header.Url,
            PageUrl: embedding.Count > 0 ? embedding[0] : null,
            FetchedAt: ParseDate(header.Date),
            OriginalPath: $"{Path}@{header.Location}",
            RecordId: header.RecordId,
            OtherPageUrls: embedding.Count > 1 ? [.. embedding.Skip(1)] : null);
        var what = $"record {header.Ordinal} ({header.Url})";
        if (header.Truncated is { } truncated)
        {
            return Failed(header, $"{what}: the crawler cut this record short (WARC-Truncated: {truncated})", provenance);
        }

        if (problem is not null)
        {
            return Failed(header, $"{what}: {problem}", provenance);
        }

        try
        {
            var bytes = await WarcPayload.ReadAllAsync(payload, length, limits.MaxItemBytes, ct).ConfigureAwait(false);
            if (bytes is null)
            {
                var size = length is { } exact ? $"{exact:N0}-byte payload" : "payload";
                return IngestItem.Refused(header.Name, $"{header.Name}: {what}: its {size} is over the {limits.MaxItemBytes:N0}-byte limit", provenance);
            }

            return IngestItem.InMemory(header.Name, bytes, provenance);
        }
        catch (InvalidDataException e)
        {
            return Failed(header, $"{what}: its payload cannot be decoded: {e.Message}", provenance);
        }
    }

    private async ValueTask IndexPageAsync(
        WarcRecordReader reader, WarcRecordHeader header, HttpResponseHead? http, string? contentType, PageIndex index,
        PageImageLinks links, CancellationToken ct)
    {
        if (WebUrl.Parse(header.Url) is not { } pageUrl || WebUrl.Normalize(pageUrl) is not { } page)
        {
            return;
        }

        try
        {
            var (payload, _, problem) = await WarcPayload.OpenAsync(reader, http?.TransferEncoding, http?.ContentEncoding, ct).ConfigureAwait(false);
            await using (payload.ConfigureAwait(false))
            {
                if (problem is not null)
                {
                    return;
                }

                // A page over the limit is read up to it: its first images are still found.
                var (buffer, length, _) = await WarcPayload.ReadPooledAsync(payload, limits.MaxHtmlBytes, ct, keepPartial: true).ConfigureAwait(false);
                try
                {
                    index.AddPage(page, header.Ordinal, links.Extract(buffer, length, PageImageLinks.Charset(contentType), pageUrl));
                }
                finally
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (InvalidDataException)
        {
            // A page whose coding is broken from its first bytes gives no links; pages are never items, so
            // this is not reported (the second pass does not read pages and must yield the same items).
        }
    }

    /// <summary>A response block is an HTTP message when typed application/http, or untyped and starting so.</summary>
    private static async ValueTask<bool> IsHttpAsync(WarcRecordReader reader, WarcRecordHeader header, CancellationToken ct)
    {
        if (!string.IsNullOrWhiteSpace(header.ContentType))
        {
            return header.ContentType.TrimStart().StartsWith("application/http", StringComparison.OrdinalIgnoreCase);
        }

        var start = await reader.PeekBlockAsync(5, ct).ConfigureAwait(false);
        return start.Span.SequenceEqual("HTTP/"u8);
    }

    /// <summary>The final HTTP head (interim 1xx heads passed over); null when the file ends inside it.</summary>
    private static async ValueTask<HttpResponseHead?> ReadHttpHeadAsync(WarcRecordReader reader, CancellationToken ct)
    {
        var want = 4096;
        while (true)
        {
            var data = await reader.PeekBlockAsync(want, ct).ConfigureAwait(false);
            var whole = data.Length >= reader.BlockRemaining;
            if (HttpResponseHead.TryParse(data.Span, whole) is { } head)
            {
                reader.ConsumeBlock(head.Length);
                if (head.Status is >= 100 and < 200 && head.Status != 101 && head.Problem is null && reader.BlockRemaining > 0)
                {
                    want = 4096;
                    continue;
                }

                return head;
            }

            if (data.Length < want)
            {
                return null;
            }

            if (want >= HttpResponseHead.MaxBytes)
            {
                return HttpResponseHead.TooLong();
            }

            want = Math.Min(want * 4, HttpResponseHead.MaxBytes);
        }
    }

    private static PayloadKind Classify(string? contentType)
    {
        var media = (contentType?.Split(';', 2)[0] ?? "").Trim();
        if (media.StartsWith("image/", StringComparison.OrdinalIgnoreCase))
        {
            return PayloadKind.Image;
        }

        if (media.Equals("text/html", StringComparison.OrdinalIgnoreCase) || media.Equals("application/xhtml+xml", StringComparison.OrdinalIgnoreCase))
        {
            return PayloadKind.Page;
        }

        return media.Length == 0 || media.Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase)
            || media.Equals("binary/octet-stream", StringComparison.OrdinalIgnoreCase)
            ? PayloadKind.Unknown
            : PayloadKind.Other;
    }

    /// <summary>WARC-Date is ISO 8601 UTC (WARC/1.1 allows fractions of a second); pre-ISO WARC/0.x wrote 14 digits.</summary>
    private static DateTimeOffset? ParseDate(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        const DateTimeStyles utc = DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal;
        if (DateTimeOffset.TryParseExact(value, "yyyyMMddHHmmss", CultureInfo.InvariantCulture, utc, out var compact))
        {
            return compact;
        }

        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, utc, out var date) ? date : null;
    }

    private IngestItem Failed(WarcRecordHeader header, string reason, Provenance? provenance = null) =>
        IngestItem.Failed(header.Name, $"{header.Name}: {reason}", provenance ?? new Provenance(
            SourceUrl: header.Url, OriginalPath: $"{Path}@{header.Location}", RecordId: header.RecordId));

    private enum PayloadKind
    {
        Image,
        Page,
        Unknown,
        Other,
    }

    private sealed record Scan(long Items, IReadOnlyDictionary<string, IReadOnlyList<string>> Pages);
}
