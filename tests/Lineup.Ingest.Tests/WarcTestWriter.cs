using System.IO.Compression;
using System.Text;

namespace Lineup.Ingest.Tests;

public enum WarcLayout
{
    Plain,

    /// <summary>One gzip member per record, as wget, Heritrix and Common Crawl write.</summary>
    GzipPerRecord,

    /// <summary>One gzip member over the whole file.</summary>
    GzipWhole,
}

/// <summary>Writes small synthetic WARC files for the tests, record by record, sound or deliberately broken.</summary>
public sealed class WarcTestWriter
{
    public const string Date = "2024-05-06T07:08:09Z";

    private readonly List<byte[]> _records = [];

    public int Count => _records.Count;

    public WarcTestWriter Warcinfo() =>
        Record("warcinfo", null, "format: WARC File Format 1.1\r\nsoftware: test\r\n"u8.ToArray(), "application/warc-fields");

    /// <summary>An HTTP response record (WARC-Type response, Content-Type application/http).</summary>
    public WarcTestWriter Response(string url, byte[] httpMessage, Action<RecordOptions>? options = null) =>
        Record("response", url, httpMessage, "application/http; msgtype=response", options);

    public WarcTestWriter Request(string url) =>
        Record("request", url, Encoding.ASCII.GetBytes($"GET {new Uri(url).PathAndQuery} HTTP/1.1\r\nHost: {new Uri(url).Authority}\r\n\r\n"), "application/http; msgtype=request");

    /// <summary>A 200 response with <paramref name="contentType"/> and a Content-Length.</summary>
    public WarcTestWriter Ok(string url, string contentType, byte[] body, Action<RecordOptions>? options = null) =>
        Response(url, Http(200, "OK", [("Content-Type", contentType), ("Content-Length", body.Length.ToString())], body), options);

    public WarcTestWriter Page(string url, string html, string contentType = "text/html; charset=utf-8") =>
        Ok(url, contentType, Encoding.UTF8.GetBytes(html));

    public WarcTestWriter Record(string type, string? url, byte[] block, string? contentType, Action<RecordOptions>? options = null)
    {
        var o = new RecordOptions();
        options?.Invoke(o);
        var header = new StringBuilder();
        header.Append(o.Version).Append("\r\n");
        header.Append("WARC-Type: ").Append(type).Append("\r\n");
        if (url is not null)
        {
            header.Append("WARC-Target-URI: ").Append(url).Append("\r\n");
        }

        header.Append("WARC-Date: ").Append(o.Date).Append("\r\n");
        header.Append("WARC-Record-ID: <urn:uuid:").Append(Guid.NewGuid()).Append(">\r\n");
        if (contentType is not null)
        {
            header.Append("Content-Type: ").Append(contentType).Append("\r\n");
        }

        foreach (var (name, value) in o.Fields)
        {
            header.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        if (o.ContentLength is { } declared)
        {
            header.Append("Content-Length: ").Append(declared).Append("\r\n");
        }
        else if (!o.OmitContentLength)
        {
            header.Append("Content-Length: ").Append(block.Length).Append("\r\n");
        }

        header.Append("\r\n");
        _records.Add([.. Encoding.UTF8.GetBytes(header.ToString()), .. block, .. "\r\n\r\n"u8]);
        return this;
    }

    /// <summary>Bytes that are not a record, written as they are (in their own gzip member when gzip per record).</summary>
    public WarcTestWriter Raw(byte[] bytes)
    {
        _records.Add(bytes);
        return this;
    }

    public static byte[] Http(int status, string reason, (string Name, string Value)[] headers, byte[] body)
    {
        var head = new StringBuilder($"HTTP/1.1 {status} {reason}\r\n");
        foreach (var (name, value) in headers)
        {
            head.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        head.Append("\r\n");
        return [.. Encoding.ASCII.GetBytes(head.ToString()), .. body];
    }

    /// <summary>The file bytes, and where each record starts in them (member offsets for gzip per record).</summary>
    public (byte[] Bytes, long[] Offsets) Build(WarcLayout layout)
    {
        var output = new MemoryStream();
        var offsets = new long[_records.Count];
        switch (layout)
        {
            case WarcLayout.Plain:
            case WarcLayout.GzipWhole:
                for (var i = 0; i < _records.Count; i++)
                {
                    offsets[i] = output.Length;
                    output.Write(_records[i]);
                }

                return layout == WarcLayout.Plain ? (output.ToArray(), offsets) : (Gzip(output.ToArray()), offsets);
            default:
                for (var i = 0; i < _records.Count; i++)
                {
                    offsets[i] = output.Length;
                    output.Write(Gzip(_records[i]));
                }

                return (output.ToArray(), offsets);
        }
    }

    public (string Path, long[] Offsets) Save(string path, WarcLayout layout)
    {
        var (bytes, offsets) = Build(layout);
        File.WriteAllBytes(path, bytes);
        return (path, offsets);
    }

    /// <summary>The name an item of record <paramref name="index"/> gets: file name @ offset (with +n inside a whole-file gzip).</summary>
    public static string ItemName(string path, WarcLayout layout, long[] offsets, int index) =>
        layout == WarcLayout.GzipWhole
            ? $"{Path.GetFileName(path)}@0{(offsets[index] == 0 ? "" : $"+{offsets[index]}")}"
            : $"{Path.GetFileName(path)}@{offsets[index]}";

    public static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    public static byte[] Chunked(byte[] body, int chunkSize)
    {
        var output = new MemoryStream();
        for (var i = 0; i < body.Length; i += chunkSize)
        {
            var n = Math.Min(chunkSize, body.Length - i);
            output.Write(Encoding.ASCII.GetBytes($"{n:x};ext=1\r\n"));
            output.Write(body, i, n);
            output.Write("\r\n"u8);
        }

        output.Write("0\r\nX-Trailer: yes\r\n\r\n"u8);
        return output.ToArray();
    }

    public sealed class RecordOptions
    {
        public string Version { get; set; } = "WARC/1.1";

        public string Date { get; set; } = WarcTestWriter.Date;

        /// <summary>A Content-Length to declare instead of the true one.</summary>
        public string? ContentLength { get; set; }

        public bool OmitContentLength { get; set; }

        public List<(string Name, string Value)> Fields { get; } = [];
    }
}
