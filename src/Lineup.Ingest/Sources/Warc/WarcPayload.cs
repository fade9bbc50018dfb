using System.Buffers;
using System.Globalization;
using System.IO.Compression;

namespace Lineup.Ingest.Sources.Warc;

/// <summary>
/// The payload of the current record as a stream: the rest of the block, de-chunked when the HTTP response
/// was chunked, and with its transfer and content codings undone (gzip, deflate, br). Streams are created
/// per payload that is actually read (images, pages, payloads sniffed for an image signature).
/// </summary>
internal static class WarcPayload
{
    /// <summary>
    /// Opens the payload at the reader's block position. <c>Length</c> is the exact payload length when
    /// no decoding changes it; <c>Problem</c> names a coding that cannot be undone.
    /// </summary>
    public static async ValueTask<(PeekableStream Stream, long? Length, string? Problem)> OpenAsync(
        WarcRecordReader reader, string? transferEncoding, string? contentEncoding, CancellationToken ct)
    {
        Stream stream = new BlockStream(reader);
        long? length = reader.BlockRemaining;
        var transfer = Codings(transferEncoding);
        if (transfer.Count > 0 && transfer[^1] == "chunked")
        {
            transfer.RemoveAt(transfer.Count - 1);

            // Some writers store the body de-chunked but keep the header: only de-chunk what is chunked.
            var start = await reader.PeekBlockAsync(32, ct).ConfigureAwait(false);
            if (LooksChunked(start.Span))
            {
                stream = new ChunkedStream(stream);
                length = null;
            }
        }

        // The sender applied content codings, then transfer codings, each list in order: undo in reverse.
        transfer.Reverse();
        var content = Codings(contentEncoding);
        content.Reverse();
        foreach (var coding in transfer.Concat(content))
        {
            var source = new PeekableStream(stream);
            var magic = await source.PeekAsync(2, ct).ConfigureAwait(false);
            switch (coding)
            {
                case "gzip" or "x-gzip":
                    // Bytes that are not gzip were stored already decoded (a writer that kept the header).
                    stream = magic.Length == 2 && magic.Span[0] == 0x1F && magic.Span[1] == 0x8B
                        ? new GZipStream(source, CompressionMode.Decompress)
                        : source;
                    break;
                case "deflate":
                    // HTTP "deflate" is zlib-wrapped (RFC 9110 §8.4.1.2), but servers also send raw deflate.
                    stream = magic.Length == 2 && (magic.Span[0] & 0x0F) == 8 && ((magic.Span[0] << 8) | magic.Span[1]) % 31 == 0
                        ? new ZLibStream(source, CompressionMode.Decompress)
                        : new DeflateStream(source, CompressionMode.Decompress);
                    break;
                case "br":
                    stream = new BrotliStream(source, CompressionMode.Decompress);
                    break;
                default:
                    return (new PeekableStream(source), null, $"its payload has the unsupported coding \"{coding}\"");
            }

            length = stream == source ? length : null;
        }

        return (stream as PeekableStream ?? new PeekableStream(stream), length, null);
    }

    /// <summary>Reads the whole stream into an array of exactly its length; null when it holds more than <paramref name="max"/> bytes.</summary>
    public static async ValueTask<byte[]?> ReadAllAsync(Stream stream, long? length, long max, CancellationToken ct)
    {
        if (length is { } exact)
        {
            if (exact > max)
            {
                return null;
            }

            var bytes = new byte[exact];
            await stream.ReadExactlyAsync(bytes, ct).ConfigureAwait(false);
            return bytes;
        }

        var (buffer, count, exceeded) = await ReadPooledAsync(stream, max, ct).ConfigureAwait(false);
        try
        {
            return exceeded ? null : buffer.AsSpan(0, count).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Reads at most <paramref name="max"/> bytes into a buffer rented from <see cref="ArrayPool{T}.Shared"/>
    /// (the caller returns it); <c>Exceeded</c> when more bytes followed. A decoding error ends the read
    /// with what was decoded until then when <paramref name="keepPartial"/> is set.
    /// </summary>
    public static async ValueTask<(byte[] Buffer, int Length, bool Exceeded)> ReadPooledAsync(
        Stream stream, long max, CancellationToken ct, bool keepPartial = false)
    {
        var limit = (int)Math.Min(max, Array.MaxLength - 1);
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(64 * 1024, limit + 1L));
        var count = 0;
        try
        {
            while (true)
            {
                if (count == buffer.Length)
                {
                    if (count > limit)
                    {
                        return (buffer, limit, true);
                    }

                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, limit + 1L));
                    buffer.AsSpan(0, count).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                int read;
                try
                {
                    read = await stream.ReadAsync(buffer.AsMemory(count), ct).ConfigureAwait(false);
                }
                catch (InvalidDataException) when (keepPartial)
                {
                    read = 0;
                }

                if (read == 0)
                {
                    return count > limit ? (buffer, limit, true) : (buffer, count, false);
                }

                count += read;
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private static List<string> Codings(string? field)
    {
        var list = new List<string>();
        if (field is null)
        {
            return list;
        }

        foreach (var part in field.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var coding = part.Split(';', 2)[0].Trim().ToLowerInvariant();
            if (coding.Length > 0 && coding != "identity")
            {
                list.Add(coding);
            }
        }

        return list;
    }

    /// <summary>A chunk-size line: hex digits, then an extension, whitespace or the line end.</summary>
    private static bool LooksChunked(ReadOnlySpan<byte> start)
    {
        var digits = 0;
        while (digits < start.Length && char.IsAsciiHexDigit((char)start[digits]))
        {
            digits++;
        }

        return digits is > 0 and <= 16 && (digits == start.Length || start[digits] is (byte)'\r' or (byte)'\n' or (byte)';' or (byte)' ' or (byte)'\t');
    }

    /// <summary>The rest of the current record's block.</summary>
    private sealed class BlockStream(WarcRecordReader reader) : ReadOnlyStream
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            reader.ReadBlockAsync(buffer, cancellationToken);
    }

    /// <summary>Undoes HTTP/1.1 chunked transfer coding (RFC 9112 §7.1); trailer fields are passed over.</summary>
    private sealed class ChunkedStream(Stream inner) : ReadOnlyStream
    {
        private const int MaxLineBytes = 4096;
        private readonly byte[] _buffer = new byte[MaxLineBytes];
        private int _pos;
        private int _len;
        private long _chunkLeft;
        private bool _started;
        private bool _done;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_done || buffer.IsEmpty)
            {
                return 0;
            }

            if (_chunkLeft == 0 && !await NextChunkAsync(cancellationToken).ConfigureAwait(false))
            {
                _done = true;
                return 0;
            }

            int read;
            if (_pos < _len)
            {
                read = (int)Math.Min(Math.Min(buffer.Length, _len - _pos), _chunkLeft);
                _buffer.AsSpan(_pos, read).CopyTo(buffer.Span);
                _pos += read;
            }
            else
            {
                read = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _chunkLeft)], cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new InvalidDataException("the chunked body ends inside a chunk");
                }
            }

            _chunkLeft -= read;
            return read;
        }

        /// <summary>Reads the next chunk-size line; false after the last chunk.</summary>
        private async ValueTask<bool> NextChunkAsync(CancellationToken ct)
        {
            if (_started)
            {
                // The CRLF that closes the previous chunk's data.
                var closing = await ReadLineAsync(ct).ConfigureAwait(false);
                if (closing is null)
                {
                    return false;
                }

                if (closing.Value.Length > 0)
                {
                    throw new InvalidDataException("a chunk is longer than its size line says");
                }
            }

            _started = true;
            var line = await ReadLineAsync(ct).ConfigureAwait(false);
            if (line is null)
            {
                // The data ends at a chunk boundary without the last (zero) chunk: take what came.
                return false;
            }

            var text = line.Value.Span;
            var end = text.IndexOfAny("; \t"u8);
            var digits = end < 0 ? text : text[..end];
            if (!long.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
            {
                throw new InvalidDataException("malformed chunk-size line");
            }

            _chunkLeft = size;
            return size > 0;
        }

        /// <summary>The next line without its CRLF (valid until the next read); null at the end of the data.</summary>
        private async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync(CancellationToken ct)
        {
            while (true)
            {
                var newline = _buffer.AsSpan(_pos, _len - _pos).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    var line = _buffer.AsMemory(_pos, newline);
                    _pos += newline + 1;
                    return line.Span.EndsWith("\r"u8) ? line[..^1] : line;
                }

                if (_pos > 0)
                {
                    _buffer.AsSpan(_pos, _len - _pos).CopyTo(_buffer);
                    _len -= _pos;
                    _pos = 0;
                }

                if (_len == _buffer.Length)
                {
                    throw new InvalidDataException("a chunk-size line is too long");
                }

                var read = await inner.ReadAsync(_buffer.AsMemory(_len), ct).ConfigureAwait(false);
                if (read == 0)
                {
                    if (_len == _pos)
                    {
                        return null;
                    }

                    var rest = _buffer.AsMemory(_pos, _len - _pos);
                    _pos = _len;
                    return rest;
                }

                _len += read;
            }
        }
    }
}

/// <summary>A stream whose first bytes can be looked at before it is read (an image signature, a gzip magic).</summary>
internal sealed class PeekableStream(Stream inner) : ReadOnlyStream
{
    private readonly byte[] _head = new byte[32];
    private int _headPos;
    private int _headLen;

    /// <summary>Up to <paramref name="count"/> (at most 32) bytes from the current position, fewer at the end.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> PeekAsync(int count, CancellationToken ct)
    {
        count = Math.Min(count, _head.Length);
        if (_headPos > 0)
        {
            _head.AsSpan(_headPos, _headLen - _headPos).CopyTo(_head);
            _headLen -= _headPos;
            _headPos = 0;
        }

        while (_headLen < count)
        {
            var read = await inner.ReadAsync(_head.AsMemory(_headLen, count - _headLen), ct).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            _headLen += read;
        }

        return _head.AsMemory(0, Math.Min(count, _headLen));
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_headPos < _headLen)
        {
            var count = Math.Min(buffer.Length, _headLen - _headPos);
            _head.AsSpan(_headPos, count).CopyTo(buffer.Span);
            _headPos += count;
            return ValueTask.FromResult(count);
        }

        return inner.ReadAsync(buffer, cancellationToken);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>Base of the forward-only, asynchronous-only streams of this folder.</summary>
internal abstract class ReadOnlyStream : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // Payloads are read asynchronously only; a synchronous read would block on file I/O.
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
