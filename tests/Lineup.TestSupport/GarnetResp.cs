using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Lineup.TestSupport;

/// <summary>An error reply (<c>-ERR …</c>) from a Garnet node.</summary>
public sealed class GarnetRespException(string message) : Exception(message);

/// <summary>
/// The smallest RESP2 client the test fixtures need (form a cluster, probe it, delete a test's keys) without giving the
/// support project a Redis client package. Replies: simple and bulk strings as <see cref="string"/>, integers as
/// <see cref="long"/>, arrays as <c>object?[]</c>, nil as null; an error reply throws <see cref="GarnetRespException"/>.
/// </summary>
public sealed class GarnetResp : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly BufferedStream _reader;

    private GarnetResp(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = new BufferedStream(_stream, 64 * 1024);
    }

    public static async Task<GarnetResp> ConnectAsync(string host, int port, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var client = new TcpClient { NoDelay = true };
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(timeout ?? TimeSpan.FromSeconds(3));
            await client.ConnectAsync(host, port, limit.Token);
            return new GarnetResp(client);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>One command on a fresh connection.</summary>
    public static async Task<object?> CallAsync(string host, int port, params string[] args)
    {
        await using var resp = await ConnectAsync(host, port);
        return await resp.SendAsync(args);
    }

    public async Task<object?> SendAsync(params string[] args)
    {
        var request = new StringBuilder();
        request.Append(CultureInfo.InvariantCulture, $"*{args.Length}\r\n");
        foreach (var arg in args)
        {
            request.Append(CultureInfo.InvariantCulture, $"${Encoding.UTF8.GetByteCount(arg)}\r\n").Append(arg).Append("\r\n");
        }

        await _stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await ReadAsync(timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await _reader.DisposeAsync();
        _client.Dispose();
    }

    private async Task<object?> ReadAsync(CancellationToken cancellationToken)
    {
        var line = await ReadLineAsync(cancellationToken);
        var payload = line[1..];
        switch (line[0])
        {
            case '+':
                return payload;
            case '-':
                throw new GarnetRespException(payload);
            case ':':
                return long.Parse(payload, CultureInfo.InvariantCulture);
            case '$':
            {
                var length = int.Parse(payload, CultureInfo.InvariantCulture);
                if (length < 0)
                {
                    return null;
                }

                var bytes = new byte[length + 2];
                await _reader.ReadExactlyAsync(bytes, cancellationToken);
                return Encoding.UTF8.GetString(bytes, 0, length);
            }

            case '*':
            {
                var count = int.Parse(payload, CultureInfo.InvariantCulture);
                if (count < 0)
                {
                    return null;
                }

                var items = new object?[count];
                for (var i = 0; i < count; i++)
                {
                    items[i] = await ReadAsync(cancellationToken);
                }

                return items;
            }

            default:
                throw new InvalidDataException($"Unexpected RESP reply '{line}'.");
        }
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        var bytes = new List<byte>(64);
        var one = new byte[1];
        while (true)
        {
            await _reader.ReadExactlyAsync(one, cancellationToken);
            if (one[0] == '\n' && bytes.Count > 0 && bytes[^1] == '\r')
            {
                bytes.RemoveAt(bytes.Count - 1);
                return Encoding.UTF8.GetString([.. bytes]);
            }

            bytes.Add(one[0]);
        }
    }
}
