using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Lineup.Core.Security;
using Lineup.Server.Security;

namespace Lineup.Server.Tests;

/// <summary>
/// Small request budgets on a real socket (Kestrel enforces the body size the server asks for): probes up to
/// 64 KiB, ingest uploads up to 256 KiB.
/// </summary>
public sealed class LimitsServer : ServerFixture
{
    public const int MaxProbeBytes = 64 * 1024;
    public const int MaxUploadBytes = 256 * 1024;

    public HttpClient Analyst { get; private set; } = null!;

    public string AnalystKey { get; private set; } = "";

    public string AdminKey { get; private set; } = "";

    public HttpClient Admin { get; private set; } = null!;

    public HttpClient Supervisor { get; private set; } = null!;

    public string IngestRoot => Scratch.Combine("roots");

    protected override string Name => "limits";

    protected override bool Kestrel => true;

    protected override IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>
    {
        ["Lineup:Server:MaxProbeBytes"] = MaxProbeBytes.ToString(CultureInfo.InvariantCulture),
        ["Lineup:Server:MaxUploadBytes"] = MaxUploadBytes.ToString(CultureInfo.InvariantCulture),
        ["Lineup:Server:SearchesPerMinute"] = "10000",
        ["Lineup:Server:IngestRoots:0"] = IngestRoot,
    };

    protected override async Task SeedAsync(LineupFactory factory)
    {
        Directory.CreateDirectory(IngestRoot);
        await factory.AssignToCaseAsync("b-analyst", Http.TestCase, Role.Analyst);
        AnalystKey = await factory.AddKeyAsync("b-analyst");
        Analyst = factory.KeyClient(AnalystKey);
        await factory.AddUserAsync("b-admin", Role.Admin);
        AdminKey = await factory.AddKeyAsync("b-admin");
        Admin = factory.KeyClient(AdminKey);
        Supervisor = await factory.UserWithKeyAsync("b-supervisor", Role.Supervisor);
    }
}

/// <summary>
/// Input a client can get wrong or forge: each is refused with the right status and a ProblemDetails that says what
/// to fix (and nothing of the server's insides), and nothing is written.
/// </summary>
public sealed class BadInputTests(LimitsServer server) : IClassFixture<LimitsServer>
{
    private LineupFactory Factory => server.Factory;

    private string UploadsDirectory => Path.Combine(Factory.DataDirectory, "uploads");

    [Fact]
    public async Task A_probe_over_the_size_limit_is_refused_with_413_when_its_length_is_declared()
    {
        var searches = await SearchCountAsync();
        using var form = Http.Form("photo", Oversized(LimitsServer.MaxProbeBytes + 40_000));
        Assert.True(form.Headers.ContentLength > LimitsServer.MaxProbeBytes);
        using var client = ExpectContinueClient(server.AnalystKey);

        using var response = await client.PostAsync("/api/search", form);

        var problem = await Http.ProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("65,536", Http.Detail(problem), StringComparison.Ordinal);
        Assert.Equal(searches, await SearchCountAsync());
    }

    [Fact]
    public async Task A_probe_over_the_size_limit_is_refused_with_413_when_it_is_sent_in_chunks()
    {
        var searches = await SearchCountAsync();
        // Just over the limit: the server stops reading at the limit, and little is left unread when it answers.
        using var request = Http.Post("/api/search/faces", new UnknownLength(Http.Form("photo", Oversized(LimitsServer.MaxProbeBytes + 2_000))));

        using var response = await server.Analyst.SendAsync(request);

        Assert.True(request.Headers.TransferEncodingChunked, "the request was not sent chunked");
        var problem = await Http.ProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("65,536", Http.Detail(problem), StringComparison.Ordinal);
        Assert.Equal(searches, await SearchCountAsync());
    }

    [Fact]
    public async Task An_ingest_upload_over_its_limit_is_refused_with_413_and_nothing_is_kept()
    {
        var jobs = await JobCountAsync();
        using var form = Upload(new byte[LimitsServer.MaxUploadBytes + 50_000], "big.zip");
        using var client = ExpectContinueClient(server.AdminKey);

        using var response = await client.PostAsync("/api/ingest/uploads", form);

        var problem = await Http.ProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("262,144", Http.Detail(problem), StringComparison.Ordinal);
        Assert.Equal(jobs, await JobCountAsync());
        AssertNoUploadsKept();
    }

    [Fact]
    public async Task A_json_body_to_search_is_415()
    {
        var searches = await SearchCountAsync();
        using var response = await server.Analyst.PostAsJsonAsync("/api/search", new { photo = "base64?" });
        var problem = await Http.ProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
        Assert.Contains("multipart/form-data", Http.Detail(problem), StringComparison.Ordinal);
        Assert.Equal(searches, await SearchCountAsync());
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("image/jpeg")]
    public async Task A_text_file_as_the_photo_is_415(string declaredType)
    {
        var searches = await SearchCountAsync();
        using var form = Http.SearchForm("this is not a photo at all\n"u8.ToArray(), declaredType, "notes.txt");

        using var response = await server.Analyst.PostAsync("/api/search", form);

        var problem = await Http.ProblemAsync(response, HttpStatusCode.UnsupportedMediaType, "Not an image");
        Assert.Contains("notes.txt", Http.Detail(problem), StringComparison.Ordinal);
        Assert.Equal(searches, await SearchCountAsync());
    }

    [Fact]
    public async Task A_truncated_png_is_refused_as_a_photo()
    {
        var searches = await SearchCountAsync();
        var png = TestImages.Png(400, 300);
        using var form = Http.SearchForm(png[..(png.Length * 6 / 10)], "image/png", "cut.png");

        using var response = await server.Analyst.PostAsync("/api/search", form);

        var problem = await Http.ProblemAsync(response, HttpStatusCode.UnprocessableEntity, "Photo refused");
        Assert.Contains("PNG", Http.Detail(problem), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(searches, await SearchCountAsync());
    }

    [Fact]
    public async Task A_decompression_bomb_image_is_refused_from_its_header()
    {
        var searches = await SearchCountAsync();
        // 10^10 pixels claimed in 57 bytes: decoding it would need 40 GB.
        using var form = Http.SearchForm(TestImages.PngHeaderClaiming(100_000, 100_000), "image/png", "bomb.png");

        using var response = await server.Analyst.PostAsync("/api/search", form);

        var problem = await Http.ProblemAsync(response, HttpStatusCode.UnprocessableEntity, "Photo refused");
        Assert.Contains("100,000", Http.Detail(problem), StringComparison.Ordinal);
        Assert.Equal(searches, await SearchCountAsync());
    }

    [Fact]
    public async Task A_zip_bomb_upload_is_refused_before_it_is_inflated_and_nothing_is_kept()
    {
        var jobs = await JobCountAsync();
        var stats = await Factory.Engine.Catalog.GetStatsAsync();
        var bomb = ZipBomb(50 << 20);
        Assert.True(bomb.Length < LimitsServer.MaxUploadBytes, $"{bomb.Length} bytes");

        using var response = await server.Admin.PostAsync("/api/ingest/uploads", Upload(bomb, "holiday.zip"));

        var problem = await Http.ProblemAsync(response, HttpStatusCode.UnprocessableEntity, "Source refused");
        var detail = Http.Detail(problem);
        Assert.Contains("decompression bomb", detail, StringComparison.Ordinal);
        Assert.Contains("holiday.zip", detail, StringComparison.Ordinal);
        Assert.DoesNotContain(Factory.DataDirectory, detail, StringComparison.Ordinal);
        Assert.Equal(jobs, await JobCountAsync());
        Assert.Equal(stats, await Factory.Engine.Catalog.GetStatsAsync());
        AssertNoUploadsKept();
    }

    [Fact]
    public async Task Zip_members_named_outside_the_archive_are_refused_and_nothing_is_written_there()
    {
        var marker = "lineup-evil-" + Guid.NewGuid().ToString("N");
        var names = new[] { $"../../{marker}.jpg", $"/tmp/{marker}-absolute.jpg", $"photos/../../{marker}-nested.jpg" };
        var zip = Zip(names.Select(n => (n, TestImages.Jpeg(64, 48))).ToArray());
        var images = (await Factory.Engine.Catalog.GetStatsAsync()).Images;

        using var response = await server.Admin.PostAsync("/api/ingest/uploads", Upload(zip, "traversal.zip"));

        // Either refused at once, or queued and every such member refused by the archive reader.
        if (response.StatusCode == HttpStatusCode.Accepted)
        {
            var job = await Jobs.WaitAsync(server.Admin, response.Headers.Location!.OriginalString);
            Assert.Equal("completed", job.GetProperty("status").GetString());
            Assert.Equal(names.Length, job.GetProperty("refused").GetInt64());
            Assert.Equal(0, job.GetProperty("ingested").GetInt64());
        }
        else
        {
            await Http.ProblemAsync(response, HttpStatusCode.UnprocessableEntity);
        }

        Assert.Equal(images, (await Factory.Engine.Catalog.GetStatsAsync()).Images);
        foreach (var folder in new[] { Path.GetTempPath(), "/tmp", Factory.Directory.Path, Factory.DataDirectory, server.Scratch.Path })
        {
            Assert.Empty(Directory.GetFiles(folder, marker + "*", SearchOption.TopDirectoryOnly));
        }

        Assert.Empty(Directory.GetFiles(Factory.Directory.Path, marker + "*", SearchOption.AllDirectories));
        AssertNoUploadsKept();
    }

    [Fact]
    public async Task An_upload_of_an_unknown_kind_is_415_and_nothing_is_kept()
    {
        var jobs = await JobCountAsync();
        var stats = await Factory.Engine.Catalog.GetStatsAsync();

        using var response = await server.Admin.PostAsync("/api/ingest/uploads", Upload("just some notes\n"u8.ToArray(), "notes.txt"));

        var problem = await Http.ProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
        var detail = Http.Detail(problem);
        Assert.Contains("notes.txt", detail, StringComparison.Ordinal);
        Assert.DoesNotContain(Factory.DataDirectory, detail, StringComparison.Ordinal);
        Assert.Equal(jobs, await JobCountAsync());
        Assert.Equal(stats, await Factory.Engine.Catalog.GetStatsAsync());
        AssertNoUploadsKept();
    }

    [Theory]
    [InlineData("GET", "/api/faces/987654")]
    [InlineData("GET", "/api/faces/987654/thumbnail")]
    [InlineData("GET", "/api/images/987654")]
    [InlineData("GET", "/api/images/987654/preview")]
    [InlineData("GET", "/api/images/987654/original")]
    [InlineData("GET", "/api/ingest/jobs/987654")]
    [InlineData("POST", "/api/users/nobody-here/disable")]
    [InlineData("POST", "/api/users/nobody-here/api-keys")]
    public async Task Unknown_ids_are_404(string method, string url)
    {
        var users = (await Factory.Engine.Users.ListUsersAsync()).Count;
        using var request = new HttpRequestMessage(new HttpMethod(method), url);
        if (url.EndsWith("/api-keys", StringComparison.Ordinal))
        {
            request.Content = JsonContent.Create(new { name = "integration" });
        }

        // Admin for the administrative ones; a supervisor reads the gallery.
        var client = url.StartsWith("/api/users", StringComparison.Ordinal) || url.StartsWith("/api/ingest", StringComparison.Ordinal) ? server.Admin : server.Supervisor;
        using var response = await client.SendAsync(request);

        Http.Detail(await Http.ProblemAsync(response, HttpStatusCode.NotFound));
        Assert.Equal(users, (await Factory.Engine.Users.ListUsersAsync()).Count);
    }

    [Theory]
    [InlineData("{\"userName\": \"b-analyst\", \"password\": ")]
    [InlineData("{\"userName\": 42, \"password\": \"correct horse battery staple\"}")]
    [InlineData("[1, 2, 3]")]
    public async Task Malformed_json_to_sign_in_is_400(string json)
    {
        var client = Factory.NewClient(cookies: true);
        var token = await LineupFactory.AntiforgeryTokenAsync(client);
        using var request = Http.Post("/api/auth/signin", new StringContent(json, Encoding.UTF8, "application/json"));
        request.Headers.Add(RequestGuards.AntiforgeryHeader, token);

        using var response = await client.SendAsync(request);

        Http.Detail(await Http.ProblemAsync(response, HttpStatusCode.BadRequest));
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/auth/me")).StatusCode);
    }

    [Theory]
    [InlineData("{\"name\": \"b-new\", \"roles\": [\"analyst\"], \"password\": ")]
    [InlineData("{\"name\": \"b-new\", \"roles\": \"analyst\", \"password\": \"correct horse battery staple\"}")]
    [InlineData("{\"name\": \"b-new\", \"roles\": [\"janitor\"], \"password\": \"correct horse battery staple\"}")]
    [InlineData("{\"name\": \"b-new\", \"roles\": [\"analyst\"], \"password\": \"short\"}")]
    [InlineData("{\"name\": \"b new/../x\", \"roles\": [\"analyst\"], \"password\": \"correct horse battery staple\"}")]
    public async Task Malformed_or_invalid_json_to_users_is_400_and_adds_nobody(string json)
    {
        var users = (await Factory.Engine.Users.ListUsersAsync()).Count;

        using var response = await server.Admin.PostAsync("/api/users", new StringContent(json, Encoding.UTF8, "application/json"));

        Http.Detail(await Http.ProblemAsync(response, HttpStatusCode.BadRequest));
        Assert.Equal(users, (await Factory.Engine.Users.ListUsersAsync()).Count);
    }

    [Theory]
    [InlineData("top", "0")]
    [InlineData("top", "101")]
    [InlineData("face", "abc")]
    [InlineData("capturedFrom", "notadate")]
    [InlineData("capturedTo", "2024-13-45")]
    [InlineData("jurisdiction", "XXX1")]
    public async Task A_search_field_out_of_range_is_400_naming_the_field(string field, string value)
    {
        var searches = await SearchCountAsync();
        using var form = Http.SearchForm(TestImages.Jpeg(64, 48), fields: [(field, value)]);

        using var response = await server.Analyst.PostAsync("/api/search", form);

        var detail = Http.Detail(await Http.ProblemAsync(response, HttpStatusCode.BadRequest));
        Assert.Contains(field, detail, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(value, detail, StringComparison.Ordinal);
        Assert.Equal(searches, await SearchCountAsync());
    }

    [Fact]
    public async Task An_ingest_path_outside_the_allowed_roots_is_403()
    {
        var jobs = await JobCountAsync();
        Directory.CreateDirectory(server.Scratch.Combine("elsewhere"));
        foreach (var path in new[] { "/etc", server.Scratch.Combine("elsewhere"), server.IngestRoot + "/../elsewhere", server.IngestRoot + "-sibling" })
        {
            using var response = await server.Admin.PostAsJsonAsync("/api/ingest/paths", new { path, collection = "c", lawfulBasis = "test" });
            var problem = await Http.ProblemAsync(response, HttpStatusCode.Forbidden, "Path not allowed");
            Assert.Contains("IngestRoots", Http.Detail(problem), StringComparison.Ordinal);
        }

        Assert.Equal(jobs, await JobCountAsync());
    }

    [Fact]
    public async Task A_link_inside_an_ingest_root_to_a_folder_outside_it_is_403()
    {
        var outside = server.Scratch.Combine("outside-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(outside);
        await File.WriteAllBytesAsync(Path.Combine(outside, "private.jpg"), TestImages.Jpeg(64, 48));
        var link = Path.Combine(server.IngestRoot, "link-" + Guid.NewGuid().ToString("N"));
        Directory.CreateSymbolicLink(link, outside);
        var jobs = await JobCountAsync();

        using var response = await server.Admin.PostAsJsonAsync("/api/ingest/paths", new { path = link, collection = "c", lawfulBasis = "test" });

        if (response.StatusCode == HttpStatusCode.Accepted)
        {
            // Let the job finish before failing, so that it does not change the catalog under the next test.
            await Jobs.WaitAsync(server.Admin, response.Headers.Location!.OriginalString);
        }

        // The folder the link names is outside every root: reading it through the link is reading outside them.
        await Http.ProblemAsync(response, HttpStatusCode.Forbidden, "Path not allowed");
        Assert.Equal(jobs, await JobCountAsync());
    }

    [Fact]
    public async Task A_probe_with_no_face_is_422_and_the_refusal_is_recorded()
    {
        var photo = TestImages.Jpeg(320, 240);
        var before = await Factory.Engine.SearchLog.ListSearchesAsync(1);

        using var response = await server.Analyst.PostAsync("/api/search", Http.SearchForm(photo, fileName: "wall.jpg"));

        var problem = await Http.ProblemAsync(response, HttpStatusCode.UnprocessableEntity, "No face in the probe");
        Assert.Contains("wall.jpg", Http.Detail(problem), StringComparison.Ordinal);
        var log = await Http.JsonAsync(await server.Supervisor.GetAsync("/api/searches?limit=1"));
        var record = Assert.Single(log.EnumerateArray());
        Assert.NotEqual(before.FirstOrDefault()?.Id, record.GetProperty("id").GetInt64());
        Assert.Equal("b-analyst", record.GetProperty("by").GetString());
        Assert.Equal("noFace", record.GetProperty("outcome").GetString());
        Assert.Equal(0, record.GetProperty("facesInProbe").GetInt32());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(photo)), record.GetProperty("probeSha256").GetString());
    }

    [Fact]
    public async Task Refusals_are_problem_details_whatever_the_client_says_it_accepts()
    {
        var searches = await SearchCountAsync();
        var anonymous = Factory.NewClient();
        using var signInFirst = new HttpRequestMessage(HttpMethod.Get, "/api/stats");
        signInFirst.Headers.Accept.ParseAdd("text/html");
        using var noFace = Http.Post("/api/search", Http.SearchForm(TestImages.Jpeg(96, 64)));
        noFace.Headers.Accept.ParseAdd("text/html");

        // A refusal from authentication (401) and one mapped from the engine's exception (422): both still answer
        // with their status and a ProblemDetails, never a 500 because no writer "accepts" text/html.
        await Http.ProblemAsync(await anonymous.SendAsync(signInFirst), HttpStatusCode.Unauthorized);
        await Http.ProblemAsync(await server.Analyst.SendAsync(noFace), HttpStatusCode.UnprocessableEntity, "No face in the probe");
        Assert.Equal(searches + 1, await SearchCountAsync());
    }

    private async Task<int> SearchCountAsync() => (await Factory.Engine.SearchLog.ListSearchesAsync(10_000)).Count;

    private async Task<int> JobCountAsync() => (await Http.JsonAsync(await server.Admin.GetAsync("/api/ingest/jobs"))).GetArrayLength();

    private void AssertNoUploadsKept()
    {
        if (Directory.Exists(UploadsDirectory))
        {
            Assert.Empty(Directory.GetFileSystemEntries(UploadsDirectory, "*", SearchOption.AllDirectories));
        }
    }

    /// <summary>
    /// A client that announces its body (Expect: 100-continue) and waits for the server's go-ahead. The server refuses
    /// a declared length over the limit without reading the body; a client that wrote the body anyway would race the
    /// server closing the connection and could see a broken pipe instead of the 413.
    /// </summary>
    private HttpClient ExpectContinueClient(string key)
    {
        var client = new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromMinutes(1) }) { BaseAddress = Factory.BaseAddress };
        client.DefaultRequestHeaders.ExpectContinue = true;
        client.DefaultRequestHeaders.Add(ApiKeyAuthenticationHandler.HeaderName, key);
        return client;
    }

    private static MultipartFormDataContent Upload(byte[] bytes, string fileName) =>
        Http.Form("file", bytes, "application/octet-stream", fileName, ("collection", "uploads"), ("lawfulBasis", "test"), ("jurisdiction", "DE"));

    /// <summary>A real JPEG's first bytes padded to <paramref name="length"/>: an image by its signature, and too big.</summary>
    private static byte[] Oversized(int length)
    {
        var bytes = new byte[length];
        TestImages.Jpeg(64, 48).CopyTo(bytes, 0);
        return bytes;
    }

    private static byte[] ZipBomb(long zeros)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var entry = zip.CreateEntry("photo.jpg", CompressionLevel.SmallestSize).Open();
            var chunk = new byte[1 << 20];
            for (long written = 0; written < zeros; written += chunk.Length)
            {
                entry.Write(chunk);
            }
        }

        return buffer.ToArray();
    }

    private static byte[] Zip(params (string Name, byte[] Bytes)[] members)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, bytes) in members)
            {
                using var entry = zip.CreateEntry(name).Open();
                entry.Write(bytes);
            }
        }

        return buffer.ToArray();
    }

    /// <summary>Content whose length is not known in advance, so HttpClient sends it with chunked transfer encoding.</summary>
    private sealed class UnknownLength : HttpContent
    {
        private readonly HttpContent _inner;

        public UnknownLength(HttpContent inner)
        {
            _inner = inner;
            Headers.ContentType = inner.Headers.ContentType;
        }

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => _inner.CopyToAsync(stream);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>Ingest jobs seen through the API.</summary>
internal static class Jobs
{
    /// <summary>Polls <paramref name="location"/> until the job completes or fails; every snapshot goes to <paramref name="snapshots"/>.</summary>
    public static async Task<JsonElement> WaitAsync(HttpClient admin, string location, List<JsonElement>? snapshots = null)
    {
        // A guard against a job that never ends, not a performance bound.
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (true)
        {
            var job = await Http.JsonAsync(await admin.GetAsync(location));
            snapshots?.Add(job);
            if (job.GetProperty("status").GetString() is "completed" or "failed")
            {
                return job;
            }

            Assert.True(DateTime.UtcNow < deadline, $"ingest job {location} still {job.GetProperty("status")} after 5 minutes: {job}");
            await Task.Delay(100);
        }
    }
}
