using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Lineup.TestSupport;

namespace Lineup.Ingest.Tests;

/// <summary>A photo of the crawled site: its URL, the shared file it was served from, and the pages that embed it.</summary>
public sealed record CrawledPhoto(string Url, string FilePath, IReadOnlyList<string> PageUrls);

/// <summary>A WARC written by a real crawler, and what it should hold.</summary>
/// <param name="Started">Before the crawl, floored to the second (WARC/1.0 dates have whole seconds).</param>
/// <param name="Finished">After the crawl, rounded up to the next second.</param>
public sealed record CrawledSite(string WarcPath, string BaseUrl, IReadOnlyList<CrawledPhoto> Photos, DateTimeOffset Started, DateTimeOffset Finished);

/// <summary>
/// A local web site of three pages embedding six face photos from the shared photo folder, served by
/// <see cref="HttpListener"/> on a free port of 127.0.0.1 and crawled by Debian's wget into a gzip WARC.
/// Public so that an end-to-end ingest test can crawl the same site.
/// </summary>
public static class WarcCrawlFixture
{
    /// <summary>
    /// The full path of a command-line tool on PATH. A missing tool skips the test on a developer machine
    /// and fails it on CI (CI=true), where the tool is part of the environment.
    /// </summary>
    public static string RequireTool(string name)
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(Path.PathSeparator))
        {
            var candidate = Path.Combine(folder, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        if (TestPaths.IsCi)
        {
            throw new InvalidOperationException($"CI=true but the tool '{name}' is not on PATH (apt-get install {name}).");
        }

        Skip.If(true, $"'{name}' is not installed");
        return name;
    }

    /// <summary>
    /// Serves the site, crawls it with <c>wget --recursive --level=2 --page-requisites --warc-file</c>, and
    /// returns the WARC with the expected photos. The photos: one embedded by two pages, one only through
    /// a <c>srcset</c>, one by an absolute URL.
    /// </summary>
    public static async Task<CrawledSite> CrawlFacePhotoSiteAsync(TempDirectory dir)
    {
        var faces = TestPaths.RequireFaces();
        var wget = RequireTool("wget");
        (string Name, string File, string Type)[] photos =
        [
            ("obama.jpg", "face_recognition/images/Barack_Obama/obama.jpg", "image/jpeg"),
            ("kit.jpeg", "face_recognition/images/Kit_Harington/knn_train_kit_harington_john1.jpeg", "image/jpeg"),
            ("jolie.jpg", "deepface/images/Angelina_Jolie/img4.jpg", "image/jpeg"),
            ("biden.jpg", "face_recognition/images/Joseph_Biden/biden.jpg", "image/jpeg"),
            ("miranda.png", "face_recognition/images/Lin-Manuel_Miranda/lin-manuel-miranda.png", "image/png"),
            ("rose.jpg", "face_recognition/images/Rose_Leslie/knn_train_rose_leslie_img1.jpg", "image/jpeg"),
        ];

        await using var site = TestWebSite.Start();
        var root = site.BaseUrl;
        site.Add("index.html", "text/html; charset=utf-8", Encoding.UTF8.GetBytes($"""
            <!doctype html><html><head><title>Home</title></head><body>
            <img src="photos/obama.jpg" alt="one"> <img src="/photos/kit.jpeg" alt="two">
            <a href="page2.html">two</a> <a href="page3.html">three</a>
            </body></html>
            """));
        site.Add("page2.html", "text/html; charset=utf-8", Encoding.UTF8.GetBytes($"""
            <!doctype html><html><body>
            <img src="photos/obama.jpg" alt="again">
            <img src="photos/jolie.jpg" srcset="photos/biden.jpg 2x" alt="responsive">
            </body></html>
            """));
        site.Add("page3.html", "text/html; charset=utf-8", Encoding.UTF8.GetBytes($"""
            <!doctype html><html><body>
            <img src="{root}photos/miranda.png" alt="absolute"> <img src="./photos/rose.jpg" alt="relative">
            </body></html>
            """));
        foreach (var (name, file, type) in photos)
        {
            site.Add($"photos/{name}", type, await File.ReadAllBytesAsync(Path.Combine(faces, file)));
        }

        var started = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var warc = await RunWgetAsync(wget, $"{root}index.html", dir.Combine("crawl"), dir.Combine("mirror"), TimeSpan.FromMinutes(2));
        var finished = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);

        string[] index = [$"{root}index.html"], two = [$"{root}page2.html"], three = [$"{root}page3.html"];
        var pages = new Dictionary<string, string[]>
        {
            ["obama.jpg"] = [.. index, .. two],
            ["kit.jpeg"] = index,
            ["jolie.jpg"] = two,
            ["biden.jpg"] = two,
            ["miranda.png"] = three,
            ["rose.jpg"] = three,
        };
        var expected = photos.Select(p => new CrawledPhoto($"{root}photos/{p.Name}", Path.Combine(faces, p.File), pages[p.Name])).ToList();
        return new CrawledSite(warc, root, expected, started, finished);
    }

    /// <summary>
    /// Runs <c>wget --recursive --level=2 --page-requisites --no-verbose -e robots=off
    /// --warc-file=<paramref name="warcBase"/> --directory-prefix=<paramref name="mirror"/></c> on
    /// <paramref name="startUrl"/> and returns the WARC it wrote (<c>warcBase.warc.gz</c>).
    /// </summary>
    public static async Task<string> RunWgetAsync(string wget, string startUrl, string warcBase, string mirror, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(wget)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["--recursive", "--level=2", "--page-requisites", "--no-verbose", "-e", "robots=off",
            $"--warc-file={warcBase}", $"--directory-prefix={mirror}", startUrl])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("wget did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"wget did not finish within {timeout}: {await errors}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"wget exited with {process.ExitCode}: {await output}{await errors}");
        }

        var warc = warcBase + ".warc.gz";
        return File.Exists(warc) ? warc : throw new InvalidOperationException($"wget wrote no {warc}: {await errors}");
    }
}

/// <summary>A static web site on a free port of 127.0.0.1, serving what was added, with Content-Length and Content-Type.</summary>
public sealed class TestWebSite : IAsyncDisposable
{
    private readonly HttpListener _listener;
    private readonly Dictionary<string, (string Type, byte[] Body)> _resources = new(StringComparer.Ordinal);
    private readonly Task _serving;

    private TestWebSite(HttpListener listener, string baseUrl)
    {
        _listener = listener;
        BaseUrl = baseUrl;
        _serving = Task.Run(ServeAsync);
    }

    /// <summary><c>http://127.0.0.1:port/</c>.</summary>
    public string BaseUrl { get; }

    public static TestWebSite Start()
    {
        for (var attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var baseUrl = $"http://127.0.0.1:{port}/";
            var listener = new HttpListener();
            listener.Prefixes.Add(baseUrl);
            try
            {
                listener.Start();
                return new TestWebSite(listener, baseUrl);
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // Another process took the port between the probe and the start: try another.
                listener.Close();
            }
        }
    }

    /// <summary>Serves <paramref name="body"/> at <c>BaseUrl + relativePath</c>.</summary>
    public void Add(string relativePath, string contentType, byte[] body)
    {
        lock (_resources)
        {
            _resources["/" + relativePath] = (contentType, body);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _serving;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var response = context.Response;
            (string Type, byte[] Body) resource;
            bool found;
            lock (_resources)
            {
                found = _resources.TryGetValue(context.Request.Url?.AbsolutePath ?? "", out resource);
            }

            var (type, body) = found ? resource : ("text/plain", "not found"u8.ToArray());
            response.StatusCode = found ? 200 : 404;
            response.ContentType = type;
            response.ContentLength64 = body.Length;
            try
            {
                await response.OutputStream.WriteAsync(body);
            }
            catch (HttpListenerException)
            {
                // The client went away; the crawl reports what it missed.
            }
        }
    }
}
