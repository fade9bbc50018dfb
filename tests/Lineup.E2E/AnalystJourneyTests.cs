using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Lineup.E2E;

/// <summary>
/// The analyst's journey in a real browser: sign in, pick the case and say what the probe is, upload a probe, see its
/// faces and their quality, search, find the right person first, open the candidate, read its provenance. A screenshot
/// of each step lands in the test output (<c>screenshots/</c>); a failing step fails the test.
/// </summary>
[Trait("Category", "Data")]
[Collection(nameof(BrowserCollection))]
public sealed class AnalystJourneyTests(ServerFixture server)
{
    [SkippableFact]
    public async Task An_analyst_signs_in_searches_a_probe_and_reads_the_first_candidates_provenance()
    {
        server.SkipUnlessReady();
        await using var context = await server.Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        var errors = PageChecks.CollectConsoleErrors(page);

        await SignInAsync(page, "desktop");

        var (probe, identity) = server.Probes[0];
        await UploadProbeAsync(page, probe, "desktop");
        await SearchAsync(page, "desktop");

        var first = page.Locator("[data-testid=candidate][data-rank='1']");
        var imageId = await first.GetAttributeAsync("data-image-id");
        Assert.False(string.IsNullOrEmpty(imageId));

        await first.Locator("[data-testid=open-candidate]").ClickAsync();
        var view = page.Locator("#candidate-view");
        await Assertions.Expect(view).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#candidate-image")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-testid=gallery-face][data-selected=true]")).ToHaveCountAsync(1);
        // The view opens at once and fills when the image's record arrives.
        await Assertions.Expect(page.Locator("#provenance")).ToContainTextAsync("shared test photos");
        var provenance = await page.Locator("#provenance").InnerTextAsync();

        // The provenance names the gallery file; the file name says whose photo it is (the gallery copies are named
        // after their path in the labelled set), so the first candidate is checked against the label, not the UI.
        var galleryFile = server.GalleryIdentities.Keys.FirstOrDefault(name => provenance.Contains(name, StringComparison.Ordinal));
        Assert.True(galleryFile is not null, $"The provenance of candidate image {imageId} names no gallery file: {provenance}");
        Assert.Equal(identity, server.GalleryIdentities[galleryFile]);
        Assert.Contains("e2e", provenance, StringComparison.Ordinal);
        Assert.Contains("shared test photos", provenance, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("#sightings")).ToBeVisibleAsync();
        await server.ShotAsync(page, "desktop-4-candidate");

        await page.Locator("#back-to-results").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=candidate]").First).ToBeVisibleAsync();
        Assert.Empty(errors);
    }

    [SkippableFact]
    public async Task The_journey_works_by_keyboard_at_phone_width_without_horizontal_scrolling()
    {
        server.SkipUnlessReady();
        await using var context = await server.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 390, Height = 844 },
            IsMobile = true,
            HasTouch = true,
        });
        var page = await context.NewPageAsync();
        var errors = PageChecks.CollectConsoleErrors(page);

        await SignInAsync(page, "phone");
        await PageChecks.AssertNoHorizontalScrollAsync(page, "after sign-in");

        var (probe, identity) = server.Probes[1];
        await UploadProbeAsync(page, probe, "phone");
        await PageChecks.AssertNoHorizontalScrollAsync(page, "with the probe shown");
        await SearchAsync(page, "phone");
        await PageChecks.AssertNoHorizontalScrollAsync(page, "with the candidates shown");

        // Keyboard only: focus the first candidate's open control, press Enter, then Escape closes the view.
        var open = page.Locator("[data-testid=candidate][data-rank='1'] [data-testid=open-candidate]");
        await open.FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("#candidate-view")).ToBeVisibleAsync();
        // The view opens at once and fills when the image's record arrives.
        await Assertions.Expect(page.Locator("#provenance")).ToContainTextAsync("shared test photos");
        var provenance = await page.Locator("#provenance").InnerTextAsync();
        var galleryFile = server.GalleryIdentities.Keys.FirstOrDefault(name => provenance.Contains(name, StringComparison.Ordinal));
        Assert.True(galleryFile is not null, $"The provenance names no gallery file: {provenance}");
        Assert.Equal(identity, server.GalleryIdentities[galleryFile]);
        await PageChecks.AssertNoHorizontalScrollAsync(page, "with a candidate open");
        await server.ShotAsync(page, "phone-4-candidate");
        await page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(page.Locator("#candidate-view")).ToBeHiddenAsync();
        Assert.Empty(errors);
    }

    [SkippableFact]
    public async Task A_probe_under_the_quality_floor_is_refused_with_reasons_and_searched_only_with_a_recorded_reason()
    {
        server.SkipUnlessReady();
        await using var context = await server.Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        var errors = PageChecks.CollectConsoleErrors(page);
        await SignInAsync(page, "refusal");
        await ChooseCaseAndSourceAsync(page);

        await page.Locator("#probe-file").SetInputFilesAsync(server.UnderTheFloor());
        await Assertions.Expect(page.Locator("[data-testid=probe-face][data-below-floor=true]").First)
            .ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
        await page.Locator("#search-submit").ClickAsync();
        var refusal = page.Locator("#quality-refusal");
        await Assertions.Expect(refusal).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
        await Assertions.Expect(refusal).ToContainTextAsync(new Regex("floor", RegexOptions.IgnoreCase));
        await Assertions.Expect(page.Locator("[data-testid=candidate]")).ToHaveCountAsync(0);
        await server.ShotAsync(page, "refusal-1-refused");

        const string reason = "E2E: the only photo available; supervisor approved";
        await page.Locator("#search-anyway").ClickAsync();
        await page.Locator("#override-reason").FillAsync(reason);
        await page.Locator("#override-submit").ClickAsync();
        await Assertions.Expect(page.Locator("#search-outcome")).Not.ToBeEmptyAsync(new LocatorAssertionsToBeEmptyOptions { Timeout = 30_000 });
        await server.ShotAsync(page, "refusal-2-overridden");

        // What the server recorded: the refusal, then the search with the analyst's reason.
        var recorded = await server.Engine.SearchLog.ListSearchesAsync(10);
        var overridden = recorded.First(r => r.By == ServerFixture.AnalystName && r.QualityOverride is not null);
        Assert.Equal(reason, overridden.QualityOverride);
        Assert.Contains(recorded, r => r.By == ServerFixture.AnalystName && r.Outcome == Lineup.Core.Catalog.SearchOutcome.RefusedLowQuality && r.Id < overridden.Id);
        Assert.Empty(errors);
    }

    [SkippableFact]
    public async Task A_wrong_password_is_refused_with_a_message_and_no_session()
    {
        server.SkipUnlessReady();
        await using var context = await server.Browser.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync(server.BaseUrl + "/");
        await page.Locator("#username").FillAsync(ServerFixture.AnalystName);
        await page.Locator("#password").FillAsync("not the password at all");
        await page.Locator("#signin-submit").ClickAsync();
        await Assertions.Expect(page.Locator("#status")).ToContainTextAsync(new Regex("sign-in failed|wrong", RegexOptions.IgnoreCase));
        await Assertions.Expect(page.Locator("#current-user")).ToBeHiddenAsync();
        var me = await context.APIRequest.GetAsync(server.BaseUrl + "/api/auth/me");
        Assert.Equal(401, me.Status);
        await server.ShotAsync(page, "signin-refused");
    }

    private async Task SignInAsync(IPage page, string prefix)
    {
        await page.GotoAsync(server.BaseUrl + "/");
        await Assertions.Expect(page.Locator("#signin-form")).ToBeVisibleAsync();
        await server.ShotAsync(page, $"{prefix}-0-signin");
        await page.Locator("#username").FillAsync(ServerFixture.AnalystName);
        await page.Locator("#password").FillAsync(ServerFixture.AnalystPassword);
        await page.Locator("#signin-submit").ClickAsync();
        await Assertions.Expect(page.Locator("#current-user")).ToContainTextAsync(ServerFixture.AnalystName);
        await server.ShotAsync(page, $"{prefix}-1-signed-in");
    }

    /// <summary>The case the search is for and what the probe is: the search stays disabled until both are given.</summary>
    internal static async Task ChooseCaseAndSourceAsync(IPage page, string caseNumber = ServerFixture.AnalystCase, string source = "cctv_still")
    {
        var select = page.Locator("#search-case");
        await Assertions.Expect(select.Locator($"option[value='{caseNumber}']")).ToHaveCountAsync(1);
        await select.SelectOptionAsync(caseNumber);
        await page.Locator($"[data-testid=probe-source][value='{source}']").CheckAsync();
    }

    private async Task UploadProbeAsync(IPage page, string probe, string prefix)
    {
        await ChooseCaseAndSourceAsync(page);
        await page.Locator("#probe-file").SetInputFilesAsync(probe);
        var faces = page.Locator("[data-testid=probe-face]");
        await Assertions.Expect(faces.First).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
        Assert.True(await faces.CountAsync() >= 1);
        await server.ShotAsync(page, $"{prefix}-2-probe");
    }

    private async Task SearchAsync(IPage page, string prefix)
    {
        await page.Locator("#search-submit").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=candidate]").First).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
        await Assertions.Expect(page.Locator("#lead-banner")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#lead-banner")).ToContainTextAsync(new Regex("not an identification", RegexOptions.IgnoreCase));
        await server.ShotAsync(page, $"{prefix}-3-candidates");
    }
}
