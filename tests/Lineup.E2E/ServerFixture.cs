using Lineup.Core.Oversight;
using Lineup.Core.Security;
using Lineup.Hosting;
using Lineup.Ingest.Sources;
using Lineup.Server;
using Lineup.Server.Security;
using Lineup.TestSupport;
using Lineup.Vision.Imaging;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Lineup.E2E;

/// <summary>The browser tests share one server (starting one loads the models and ingests the gallery).</summary>
[CollectionDefinition(nameof(BrowserCollection))]
public sealed class BrowserCollection : ICollectionFixture<ServerFixture>;

/// <summary>
/// A real Lineup server on a loopback port (real models, a real SQLite catalog, a USearch index) over a gallery of
/// shared DEV photos, and Debian's Chromium driven by Playwright. Nothing is mocked. Every user below signs in with
/// <see cref="AnalystPassword"/> and has a current NDA and training (a year from the start); the analyst is assigned to
/// <see cref="AnalystCase"/>, an open robbery case authorised for a year.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";
    public const string AnalystName = "e2e-analyst";
    public const string AnalystPassword = "correct horse battery staple";
    public const string AnalystCase = "E2E-CASE-1";
    public const string SupervisorName = "e2e-supervisor";
    public const string ReviewerName = "e2e-reviewer";
    public const string SecondReviewerName = "e2e-reviewer-2";
    public const string AuditorName = "e2e-auditor";
    public const string AdminName = "e2e-admin";

    /// <summary>An analyst with a current clearance but no case: the search page tells them and offers no search.</summary>
    public const string UnassignedAnalystName = "e2e-analyst-unassigned";

    /// <summary>Gallery identities: each has at least three photos, one kept out of the gallery as a probe.</summary>
    private const int Identities = 8;

    private readonly TempDirectory _dir = new();
    private WebApplication? _app;
    private IPlaywright? _playwright;

    public string BaseUrl { get; private set; } = "";

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Probe photo (absolute path) → its identity; none of them is in the gallery.</summary>
    public IReadOnlyList<(string Photo, string Identity)> Probes { get; private set; } = [];

    /// <summary>Gallery file name → identity (the gallery folder holds copies named after their shared path).</summary>
    public IReadOnlyDictionary<string, string> GalleryIdentities { get; private set; } = new Dictionary<string, string>();

    /// <summary>Set when the fixture cannot run here (no shared photos or no Chromium outside CI).</summary>
    public string? SkipReason { get; private set; }

    public string ScreenshotDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "screenshots");

    /// <summary>A full-page screenshot in <see cref="ScreenshotDirectory"/>.</summary>
    public async Task ShotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, name + ".png"), FullPage = true });

    /// <summary>Skips locally, and fails under CI=true, when the browser journeys cannot run here.</summary>
    public void SkipUnlessReady()
    {
        if (SkipReason is { } reason)
        {
            if (Lineup.TestSupport.TestPaths.IsCi)
            {
                throw new InvalidOperationException("CI=true but the browser journey cannot run: " + reason);
            }

            Skip.If(true, reason);
        }
    }

    /// <summary>The running server's engine (to read what the server recorded).</summary>
    public LineupEngine Engine => _app!.Services.GetRequiredService<LineupEngine>();

    /// <summary>
    /// A probe whose every face is under the quality floor: a probe photo degraded (blur, mask, low light, … from
    /// <see cref="Degradation.Standard"/>) until the detector still finds the face but its quality is too low. Written to
    /// the fixture's scratch folder, never into the repository.
    /// </summary>
    public string UnderTheFloor()
    {
        foreach (var (photo, _) in Probes)
        {
            var bytes = File.ReadAllBytes(photo);
            var analysis = Engine.Analyzer.Analyze(bytes, Engine.Options.Limits);
            if (analysis.Faces.Count != 1)
            {
                continue;
            }

            var face = analysis.Faces[0];
            foreach (var degradation in Degradation.Standard)
            {
                var degraded = ProbeDegradation.Apply(bytes, degradation, face.Box, face.Landmarks, Engine.Options.Limits);
                var (_, faces, _) = Engine.DescribeProbe(degraded);
                if (faces.Count > 0 && faces.All(f => f.BelowFloor))
                {
                    var path = _dir.Combine("under-the-floor-" + Path.GetFileName(photo));
                    File.WriteAllBytes(path, degraded);
                    return path;
                }
            }
        }

        throw new InvalidOperationException("No degraded probe was both detected and under the quality floor.");
    }

    public async Task InitializeAsync()
    {
        var faces = TestPaths.FacesDirectory;
        if (!File.Exists(Path.Combine(faces, "manifest.csv")))
        {
            SkipReason = $"shared test photos not present at {faces}";
            return;
        }

        if (!File.Exists(Chromium))
        {
            SkipReason = $"{Chromium} is missing (Debian package chromium; .ci/run installs it)";
            return;
        }

        await TestPaths.ModelsAsync();
        var options = new LineupOptions
        {
            DataDirectory = _dir.Combine("data"),
            ModelsDirectory = TestPaths.ModelCache,
            Workers = 2,
        };

        // Identities with at least three single-person photos: all but one go into the gallery, the last is a probe.
        var rows = CsvReader.ReadFile(Path.Combine(faces, "manifest.csv"))
            .Where(r => !r["identity"].StartsWith("group:", StringComparison.Ordinal) && r["identity"] != "noface")
            .GroupBy(r => r["identity"])
            .Where(g => g.Count() >= 3)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Take(Identities)
            .ToList();
        var gallery = _dir.Combine("gallery");
        Directory.CreateDirectory(gallery);
        var galleryIdentities = new Dictionary<string, string>();
        var probes = new List<(string, string)>();
        foreach (var identity in rows)
        {
            var photos = identity.Select(r => r["path"]).Order(StringComparer.Ordinal).ToList();
            foreach (var photo in photos[..^1])
            {
                var name = photo.Replace('/', '_');
                File.Copy(Path.Combine(faces, photo), Path.Combine(gallery, name));
                galleryIdentities[name] = identity.Key;
            }

            probes.Add((Path.Combine(faces, photos[^1]), identity.Key));
        }

        GalleryIdentities = galleryIdentities;
        Probes = probes;

        await using (var engine = await LineupEngine.OpenAsync(options))
        {
            var collection = await engine.Catalog.EnsureCollectionAsync("e2e", "shared test photos", "ZZ");
            await engine.IngestAsync(new FolderSource(gallery, options.Limits.MaxBytes), collection);
            var users = new UserDirectory(engine.Users);
            await users.AddAsync(AnalystName, "E2E Analyst", [Role.Analyst], AnalystPassword);
            await users.AddAsync(SupervisorName, "E2E Supervisor", [Role.Supervisor], AnalystPassword);
            await users.AddAsync(ReviewerName, "E2E Reviewer", [Role.Reviewer], AnalystPassword);
            await users.AddAsync(SecondReviewerName, "E2E Second Reviewer", [Role.Reviewer], AnalystPassword);
            await users.AddAsync(AuditorName, "E2E Auditor", [Role.Auditor], AnalystPassword);
            await users.AddAsync(AdminName, "E2E Admin", [Role.Admin], AnalystPassword);
            await users.AddAsync(UnassignedAnalystName, "E2E Unassigned Analyst", [Role.Analyst], AnalystPassword);

            // Searching and confirming need a current NDA and training; a search needs an open, authorised case the
            // analyst is assigned to (the oversight journey opens its own case through the UI).
            var now = engine.Options.Clock.GetUtcNow();
            foreach (var name in new[] { AnalystName, SupervisorName, ReviewerName, SecondReviewerName, AuditorName, AdminName, UnassignedAnalystName })
            {
                await engine.Cases.SetClearanceAsync(name, now.AddYears(1), now.AddYears(1), "e2e");
            }

            await engine.Cases.OpenCaseAsync(new NewCase(AnalystCase, "robbery", "E2E analyst journey", "E2E-WARRANT-1", now.AddYears(1)), "e2e");
            await engine.Cases.AssignAsync(AnalystCase, AnalystName, "e2e");
        }

        _app = LineupServer.Build([], new Dictionary<string, string?>
        {
            ["Lineup:DataDirectory"] = options.DataDirectory,
            ["Lineup:ModelsDirectory"] = options.ModelsDirectory,
            ["Lineup:Workers"] = "2",
            ["Lineup:Server:Urls"] = "http://127.0.0.1:0",
            ["Logging:LogLevel:Default"] = "Warning",
            // The journeys sign in as several users from one address within a minute.
            ["Lineup:Server:SignInsPerMinute"] = "200",
        });
        await _app.StartAsync();
        BaseUrl = LineupServer.Addresses(_app)[0].TrimEnd('/');

        Directory.CreateDirectory(ScreenshotDirectory);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        _dir.Dispose();
    }

    // ---- The network journey's gallery: a group photo of two people who also have single photos ----------------------

    /// <summary>The collection the network journey's photos are ingested into.</summary>
    public const string NetworkCollection = "e2e-network";

    /// <summary>The page the group photo was published on (a manifest field; nothing is fetched).</summary>
    public const string NetworkGroupPage = "https://news.example.org/2009/01/inauguration";

    /// <summary>A page with a single photo of each of the two: a page-only link besides the shared photo.</summary>
    public const string NetworkSharedPage = "https://news.example.org/2009/01/swearing-in";

    private const string NetworkGroupPhoto = "face_recognition/groups/obama_and_biden.jpg";

    private static readonly string[] s_networkObama =
        ["face_recognition/images/Barack_Obama/obama.jpg", "face_recognition/images/Barack_Obama/knn_test_obama1.jpg", "faceaisharp/images/Barack_Obama/Barack_Obama_03.jpg"];

    private static readonly string[] s_networkBiden =
        ["face_recognition/images/Joseph_Biden/biden.jpg", "face_recognition/images/Joseph_Biden/knn_train_biden_biden2.jpg", "lfw_deepfunneled/images/Joseph_Biden/Joseph_Biden_0001.jpg"];

    /// <summary>Kept out of the gallery: the network journey searches with it.</summary>
    private const string NetworkObamaProbe = "face_recognition/images/Barack_Obama/obama2.jpg";

    private readonly Lock _networkLock = new();
    private Task<NetworkGallery>? _networkGallery;

    /// <summary>
    /// Ingests, once, <c>obama_and_biden.jpg</c> with single photos of both people into <see cref="NetworkCollection"/>
    /// (through a manifest that gives each photo a page and a capture date; the first single photo of each is on
    /// <see cref="NetworkSharedPage"/>), then clusters the whole gallery. The photos are copied to the fixture's scratch
    /// folder, never into the repository.
    /// </summary>
    public Task<NetworkGallery> NetworkGalleryAsync()
    {
        lock (_networkLock)
        {
            return _networkGallery ??= IngestNetworkGalleryAsync();
        }
    }

    private async Task<NetworkGallery> IngestNetworkGalleryAsync()
    {
        var faces = TestPaths.FacesDirectory;
        var listed = CsvReader.ReadFile(Path.Combine(faces, "manifest.csv")).Select(r => r["path"]).ToHashSet(StringComparer.Ordinal);
        var folder = _dir.Combine("network");
        Directory.CreateDirectory(folder);
        var lines = new List<string> { "path,page_url,captured_at" };
        string[] photos = [NetworkGroupPhoto, .. s_networkObama, .. s_networkBiden];
        for (var i = 0; i < photos.Length; i++)
        {
            var photo = photos[i];
            Assert.True(listed.Contains(photo), $"{photo} is not in the shared manifest");
            var name = photo.Replace('/', '_');
            File.Copy(Path.Combine(faces, photo), Path.Combine(folder, name));
            var page = photo == NetworkGroupPhoto
                ? NetworkGroupPage
                : photo == s_networkObama[0] || photo == s_networkBiden[0]
                    ? NetworkSharedPage
                    : $"https://photos.example.net/{Path.GetFileNameWithoutExtension(name)}";
            lines.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{name},{page},2009-01-{20 + i:00}"));
        }

        var manifest = Path.Combine(folder, "manifest.csv");
        await File.WriteAllLinesAsync(manifest, lines);
        var engine = Engine;
        var collection = await engine.Catalog.EnsureCollectionAsync(NetworkCollection, "shared test photos (network)", "ZZ");
        await engine.IngestAsync(new ManifestSource(manifest, engine.Options.SourceLimits), collection);
        await engine.Network.ClusterAsync(false, "e2e");

        async Task<IReadOnlyList<long>> FacesOfAsync(string photo)
        {
            var image = await engine.Catalog.FindImageAsync(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(faces, photo))))
                ?? throw new InvalidOperationException($"{photo} was not ingested.");
            return [.. (await engine.Catalog.GetFacesOfImageAsync(image.Id)).Select(f => f.Id)];
        }

        var group = await engine.Catalog.FindImageAsync(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(faces, NetworkGroupPhoto))))
            ?? throw new InvalidOperationException($"{NetworkGroupPhoto} was not ingested.");
        var obama = new List<long>();
        foreach (var photo in s_networkObama)
        {
            obama.AddRange(await FacesOfAsync(photo));
        }

        var biden = new List<long>();
        foreach (var photo in s_networkBiden)
        {
            biden.AddRange(await FacesOfAsync(photo));
        }

        return new NetworkGallery(group.Id, await FacesOfAsync(NetworkGroupPhoto), obama, biden, Path.Combine(faces, NetworkObamaProbe));
    }
}

/// <summary>Checks every journey makes of a page.</summary>
internal static class PageChecks
{
    public static async Task AssertNoHorizontalScrollAsync(IPage page, string when)
    {
        var overflow = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - window.innerWidth");
        Assert.True(overflow <= 0, $"The page scrolls horizontally by {overflow} px {when}.");
    }

    /// <summary>Console errors and CSP violations fail a journey: the pages must run under their own policy.</summary>
    public static List<string> CollectConsoleErrors(IPage page)
    {
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            // A refused request (e.g. 401 before sign-in) is logged by the browser as an error; it is expected.
            if (message.Type == "error" && !message.Text.Contains("Failed to load resource", StringComparison.Ordinal))
            {
                errors.Add(message.Text);
            }
        };
        page.PageError += (_, error) => errors.Add(error);
        return errors;
    }
}

/// <summary>The network journey's photos as the gallery holds them (<see cref="ServerFixture.NetworkGalleryAsync"/>).</summary>
/// <param name="GroupImageId">The image id of <c>obama_and_biden.jpg</c>.</param>
/// <param name="GroupFaceIds">The faces found in it.</param>
/// <param name="ObamaFaceIds">The faces of Barack Obama's single photos in the gallery.</param>
/// <param name="BidenFaceIds">The faces of Joseph Biden's single photos in the gallery.</param>
/// <param name="ObamaProbe">A photo of Barack Obama that is not in the gallery (absolute path).</param>
public sealed record NetworkGallery(
    long GroupImageId, IReadOnlyList<long> GroupFaceIds, IReadOnlyList<long> ObamaFaceIds, IReadOnlyList<long> BidenFaceIds, string ObamaProbe);
