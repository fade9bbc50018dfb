using System.Text.Json;
using System.Text.RegularExpressions;
using Lineup.Core.Catalog;
using Lineup.Core.Oversight;
using Microsoft.Playwright;

namespace Lineup.E2E;

/// <summary>
/// Oversight in a real browser, across the people it involves: a supervisor opens a case and assigns an analyst and two
/// reviewers; the analyst searches for that case (a sketch refused with its reason shown, then a CCTV still); each
/// reviewer confirms the candidate on their own without seeing the other's decision; an auditor finds the audit log
/// intact, the lead confirmed and the disclosure report of the case. An administrator sets retention and sweeps.
/// Screenshots of each step land in <c>screenshots/oversight-*.png</c>; what the UI claims is checked against what the
/// server recorded.
/// </summary>
[Trait("Category", "Data")]
[Collection(nameof(BrowserCollection))]
public sealed class OversightJourneyTests(ServerFixture server)
{
    private const string CaseNumber = "E2E-OVS-1";

    [SkippableFact]
    public async Task A_case_is_opened_searched_refused_for_a_sketch_confirmed_by_two_reviewers_and_audited()
    {
        server.SkipUnlessReady();
        var desktop = new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } };

        // 1. The supervisor opens the case and assigns the analyst and two reviewers.
        long caseId;
        await using (var context = await server.Browser.NewContextAsync(desktop))
        {
            var page = await context.NewPageAsync();
            var errors = PageChecks.CollectConsoleErrors(page);
            await SignInAsync(page, ServerFixture.SupervisorName);
            await AssertNavAsync(page, shown: ["cases", "oversight", "reports"], hidden: ["search", "review", "retention", "optouts"]);
            await Assertions.Expect(page.Locator("#cases-view")).ToBeVisibleAsync();

            await page.Locator("#case-new-number").FillAsync(CaseNumber);
            await page.Locator("#case-new-offence").SelectOptionAsync("robbery");
            await page.Locator("#case-new-purpose").FillAsync("E2E: identify the robber seen on the shop's CCTV");
            await page.Locator("#case-new-reference").FillAsync("E2E-WARRANT-42");
            await page.Locator("#case-new-until").FillAsync(DateTime.UtcNow.AddDays(30).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
            await server.ShotAsync(page, "oversight-1-open-case");
            await page.Locator("#case-new-submit").ClickAsync();

            await Assertions.Expect(page.Locator("#case-heading")).ToContainTextAsync(CaseNumber);
            await Assertions.Expect(page.Locator("#case-facts")).ToContainTextAsync("E2E-WARRANT-42");
            await Assertions.Expect(page.Locator("#case-facts")).ToContainTextAsync("Open");
            foreach (var user in new[] { ServerFixture.AnalystName, ServerFixture.ReviewerName, ServerFixture.SecondReviewerName })
            {
                await page.Locator("#case-assign-user").FillAsync(user);
                // The list of assignable users says whom the name is: their roles and a current clearance.
                await Assertions.Expect(page.Locator("[data-testid=case-assign-hint]")).ToContainTextAsync("clearance current");
                await page.Locator("#case-assign-submit").ClickAsync();
                await Assertions.Expect(page.Locator($"[data-testid=case-users] [data-user='{user}']")).ToBeVisibleAsync();
            }

            await server.ShotAsync(page, "oversight-2-case-assigned");
            var opened = await server.Engine.Cases.FindCaseAsync(CaseNumber);
            Assert.NotNull(opened);
            caseId = opened.Id;
            Assert.Equal(ServerFixture.SupervisorName, opened.CreatedBy);
            Assert.Equal("robbery", opened.Offence);
            Assert.Equal(
                new[] { ServerFixture.AnalystName, ServerFixture.ReviewerName, ServerFixture.SecondReviewerName }.Order(StringComparer.OrdinalIgnoreCase),
                opened.AssignedUsers.Order(StringComparer.OrdinalIgnoreCase));
            Assert.Empty(errors);
        }

        // 2. The analyst picks the case; a probe attested as a sketch is refused and the reason is shown, then a CCTV still
        //    is searched.
        long searchId;
        await using (var context = await server.Browser.NewContextAsync(desktop))
        {
            var page = await context.NewPageAsync();
            var errors = PageChecks.CollectConsoleErrors(page);
            await SignInAsync(page, ServerFixture.AnalystName);
            await AssertNavAsync(page, shown: ["search", "cases"], hidden: ["review", "oversight", "reports", "retention", "optouts"]);
            await AnalystJourneyTests.ChooseCaseAndSourceAsync(page, CaseNumber, "cctv_still");

            // The UI never offers the refused sources, it names them; a client that sends one anyway (here a radio added
            // to the page) is refused by the server, and the page shows why.
            await Assertions.Expect(page.Locator("[data-testid=probe-source][value=sketch]")).ToHaveCountAsync(0);
            await Assertions.Expect(page.Locator("#search-source-refused")).ToContainTextAsync("Not allowed: sketch");
            await page.EvaluateAsync("""
                () => {
                    const input = document.createElement('input');
                    input.type = 'radio';
                    input.name = 'source';
                    input.value = 'sketch';
                    input.id = 'injected-sketch';
                    document.getElementById('search-source-options').append(input);
                    input.checked = true;
                    input.dispatchEvent(new Event('change', { bubbles: true }));
                }
                """);

            var (probe, _) = server.Probes[2];
            await page.Locator("#probe-file").SetInputFilesAsync(probe);
            await Assertions.Expect(page.Locator("[data-testid=probe-face]").First).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
            await page.Locator("#search-submit").ClickAsync();
            var refusal = page.Locator("[data-testid=intake-refusal]");
            await Assertions.Expect(refusal).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
            await Assertions.Expect(refusal).ToContainTextAsync("Search refused");
            await Assertions.Expect(refusal).ToContainTextAsync("sketch");
            await Assertions.Expect(refusal).ToContainTextAsync("refused_source");
            await Assertions.Expect(page.Locator("#status")).ToContainTextAsync("Search refused");
            await Assertions.Expect(page.Locator("[data-testid=candidate]")).ToHaveCountAsync(0);
            await server.ShotAsync(page, "oversight-3-sketch-refused");

            await page.Locator("[data-testid=probe-source][value=cctv_still]").CheckAsync();
            await Assertions.Expect(refusal).ToBeHiddenAsync();
            await page.Locator("#search-submit").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=candidate]").First).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
            await Assertions.Expect(page.Locator("[data-testid=candidate][data-above-threshold=true]").First).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("#search-summary")).ToContainTextAsync(CaseNumber);
            await server.ShotAsync(page, "oversight-4-searched");

            var searches = await server.Engine.SearchLog.ListCaseSearchesAsync(caseId);
            var refused = Assert.Single(searches, s => s.Outcome == SearchOutcome.RefusedIntake);
            Assert.Equal("refused_source", refused.Refusal);
            Assert.Equal(ServerFixture.AnalystName, refused.By);
            var accepted = Assert.Single(searches, s => s.Outcome == SearchOutcome.Candidates);
            Assert.Equal("cctv_still", accepted.ProbeSource);
            Assert.True(accepted.AboveThreshold >= 1);
            searchId = accepted.Id;
            Assert.Empty(errors);
        }

        var reviews = server.Engine.Catalog as IReviewStore ?? throw new InvalidOperationException("The catalog keeps no reviews.");
        var item = $"[data-testid=review-item][data-search-id='{searchId}'][data-rank='1']";

        // 3. The first reviewer compares the probe with the candidate; a rejection without a reason is refused in the
        //    page; they confirm.
        await using (var context = await server.Browser.NewContextAsync(desktop))
        {
            var page = await context.NewPageAsync();
            var errors = PageChecks.CollectConsoleErrors(page);
            await SignInAsync(page, ServerFixture.ReviewerName);
            await AssertNavAsync(page, shown: ["review", "cases"], hidden: ["search", "oversight", "reports", "retention", "optouts"]);
            await Assertions.Expect(page.Locator("#review-view")).ToBeVisibleAsync();
            var first = page.Locator(item);
            await Assertions.Expect(first).ToBeVisibleAsync();
            await AssertImagesLoadedAsync(first);
            // The face of the probe that was searched is boxed over it, so the reviewer compares the right person.
            await Assertions.Expect(first.Locator("[data-testid=searched-face]")).ToBeVisibleAsync();
            await Assertions.Expect(first.Locator("[data-testid=searched-face]")).ToHaveTextAsync("searched face");
            await Assertions.Expect(first).ToContainTextAsync("Similarity");
            await Assertions.Expect(first).ToContainTextAsync(CaseNumber);
            await server.ShotAsync(page, "oversight-5-review-queue");

            await first.Locator("[data-testid=review-reject]").ClickAsync();
            await Assertions.Expect(first.Locator(".form-error")).ToContainTextAsync("reason");
            Assert.Empty(await reviews.GetDecisionsAsync(searchId));

            await first.Locator("[data-testid=review-reason]").FillAsync("E2E: same brow line and ear shape");
            await first.Locator("[data-testid=review-confirm]").ClickAsync();
            await Assertions.Expect(first.Locator("[data-testid=review-outcome]")).ToContainTextAsync("You confirmed");
            await server.ShotAsync(page, "oversight-6-confirmed-once");
            var decision = Assert.Single(await reviews.GetDecisionsAsync(searchId));
            Assert.Equal((ServerFixture.ReviewerName, ReviewDecision.Confirm, 1), (decision.User, decision.Decision, decision.Rank));
            Assert.Empty(errors);
        }

        // 4. The second reviewer, on a phone, decides without seeing the first decision.
        await using (var context = await server.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 390, Height = 844 },
            IsMobile = true,
            HasTouch = true,
        }))
        {
            var page = await context.NewPageAsync();
            var errors = PageChecks.CollectConsoleErrors(page);
            await SignInAsync(page, ServerFixture.SecondReviewerName);
            var second = page.Locator(item);
            await Assertions.Expect(second).ToBeVisibleAsync();
            await AssertImagesLoadedAsync(second);
            var queueText = await page.Locator("#review-items").InnerTextAsync();
            Assert.DoesNotContain(ServerFixture.ReviewerName + "\n", queueText + "\n", StringComparison.Ordinal);
            Assert.DoesNotMatch(new Regex(@"\be2e-reviewer\b(?!-2)"), queueText);
            Assert.DoesNotContain("same brow line", queueText, StringComparison.Ordinal);
            Assert.DoesNotMatch(new Regex("awaiting a second|confirmed lead", RegexOptions.IgnoreCase), queueText);
            await PageChecks.AssertNoHorizontalScrollAsync(page, "in the review queue");
            await server.ShotAsync(page, "oversight-7-second-reviewer-phone");

            await second.Locator("[data-testid=review-confirm]").FocusAsync();
            await page.Keyboard.PressAsync("Enter");
            await Assertions.Expect(second.Locator("[data-testid=review-outcome]")).ToContainTextAsync("You confirmed");
            var decisions = await reviews.GetDecisionsAsync(searchId);
            Assert.Equal(2, decisions.Count);
            Assert.Equal(LeadStatus.Confirmed, LeadRules.Status(decisions.Where(d => d.Rank == 1)));
            Assert.Empty(errors);
        }

        // 5. The auditor: the audit log is intact, the lead is confirmed, and the case's disclosure report downloads.
        await using (var context = await server.Browser.NewContextAsync(desktop))
        {
            var page = await context.NewPageAsync();
            var errors = PageChecks.CollectConsoleErrors(page);
            await SignInAsync(page, ServerFixture.AuditorName);
            await AssertNavAsync(page, shown: ["cases", "oversight", "reports"], hidden: ["search", "review", "retention", "optouts"]);
            await page.Locator("#nav-oversight").ClickAsync();
            var intact = page.Locator("[data-testid=audit-intact]");
            await Assertions.Expect(intact).ToHaveTextAsync("Intact", new LocatorAssertionsToHaveTextOptions { Timeout = 30_000 });
            await Assertions.Expect(intact).ToHaveAttributeAsync("data-intact", "true");
            await Assertions.Expect(page.Locator("[data-testid=activity-users]")).ToContainTextAsync(ServerFixture.AnalystName);
            await Assertions.Expect(page.Locator("[data-testid=activity-cases]")).ToContainTextAsync(CaseNumber);
            await server.ShotAsync(page, "oversight-8-audit-intact");

            await page.Locator("#nav-cases").ClickAsync();
            await page.Locator("[data-testid=case-link]", new PageLocatorOptions { HasText = CaseNumber }).ClickAsync();
            await Assertions.Expect(page.Locator("#case-heading")).ToContainTextAsync(CaseNumber);
            var row = page.Locator($"[data-testid=case-searches] tr[data-search-id='{searchId}']");
            await row.Locator("[data-testid=show-search]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-testid=search-candidate][data-rank='1']")).ToHaveAttributeAsync("data-status", "confirmed");
            await Assertions.Expect(page.Locator("[data-testid=search-candidate][data-rank='1']")).ToContainTextAsync(ServerFixture.SecondReviewerName);
            await Assertions.Expect(page.Locator($"[data-testid=case-searches] tr[data-outcome=refusedIntake]")).ToContainTextAsync("refused_source");
            await server.ShotAsync(page, "oversight-9-case-confirmed");

            await page.Locator("#nav-reports").ClickAsync();
            await page.Locator("[data-testid=report-case]").SelectOptionAsync(caseId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var json = page.Locator("[data-testid=report-json]");
            await Assertions.Expect(json).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("[data-testid=report-pdf]")).ToBeVisibleAsync();
            await server.ShotAsync(page, "oversight-10-report");
            var href = await json.GetAttributeAsync("href");
            var response = await context.APIRequest.GetAsync(server.BaseUrl + href);
            Assert.Equal(200, response.Status);
            Assert.False(string.IsNullOrEmpty(response.Headers.GetValueOrDefault("x-report-sha256")));
            using var report = JsonDocument.Parse(await response.TextAsync());
            Assert.Contains(CaseNumber, report.RootElement.GetRawText(), StringComparison.Ordinal);
            var pdf = await context.APIRequest.GetAsync(server.BaseUrl + await page.Locator("[data-testid=report-pdf]").GetAttributeAsync("href"));
            Assert.Equal(200, pdf.Status);
            Assert.StartsWith("%PDF", System.Text.Encoding.ASCII.GetString((await pdf.BodyAsync())[..4]), StringComparison.Ordinal);
            Assert.Empty(errors);
        }
    }

    [SkippableFact]
    public async Task An_administrator_changes_a_time_to_live_and_sweeps()
    {
        server.SkipUnlessReady();
        await using var context = await server.Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        var errors = PageChecks.CollectConsoleErrors(page);
        await SignInAsync(page, ServerFixture.AdminName);
        await AssertNavAsync(page, shown: ["cases", "retention", "optouts"], hidden: ["search", "review", "oversight", "reports"]);
        await page.Locator("#nav-retention").ClickAsync();

        var probes = page.Locator("tr[data-data-class=probe_images]");
        await Assertions.Expect(page.Locator("[data-testid=retention-table] tbody tr")).ToHaveCountAsync(3);
        await probes.Locator("[data-testid=retention-ttl]").FillAsync("0");
        await probes.Locator("button[type=submit]").ClickAsync();
        await Assertions.Expect(probes.Locator(".field__error")).ToContainTextAsync("1 to 36,500");
        await probes.Locator("[data-testid=retention-ttl]").FillAsync("120");
        await probes.Locator("button[type=submit]").ClickAsync();
        await Assertions.Expect(page.Locator("#status")).ToContainTextAsync("120 days");
        await Assertions.Expect(probes).ToContainTextAsync(ServerFixture.AdminName);

        await page.Locator("[data-testid=retention-sweep]").ClickAsync();
        var sweep = page.Locator("[data-testid=sweep-report]");
        await Assertions.Expect(sweep).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
        await Assertions.Expect(sweep).ToContainTextAsync("Receipt");
        await server.ShotAsync(page, "retention-1-swept");

        var settings = await context.APIRequest.GetAsync(server.BaseUrl + "/api/retention");
        using var body = JsonDocument.Parse(await settings.TextAsync());
        var probeSetting = body.RootElement.GetProperty("settings").EnumerateArray().Single(s => s.GetProperty("dataClass").GetString() == DataClasses.ProbeImages);
        Assert.Equal(120, probeSetting.GetProperty("ttlDays").GetInt32());
        Assert.Empty(errors);
    }

    [SkippableFact]
    public async Task An_administrator_records_an_opt_out_request_and_the_persons_gallery_faces_are_erased()
    {
        server.SkipUnlessReady();
        await using var context = await server.Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        var errors = PageChecks.CollectConsoleErrors(page);
        await SignInAsync(page, ServerFixture.AdminName);
        await page.Locator("#nav-optouts").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=optout-table]")).ToBeVisibleAsync();

        // The last probe's person: no other test searches for them. Their probe photo is not in the gallery; their
        // other photos are, and those are what the request must erase.
        var (photo, identity) = server.Probes[^1];
        var galleryPhotos = server.GalleryIdentities.Count(p => p.Value == identity);
        Assert.True(galleryPhotos >= 2);
        const string reference = "E2E-OPTOUT-7";
        await page.Locator("#optout-submit").ClickAsync();
        await Assertions.Expect(page.Locator("#optout-error")).ToContainTextAsync("reference");
        await page.Locator("#optout-reference").FillAsync(reference);
        await page.Locator("#optout-note").FillAsync("E2E: request received by post");
        await page.Locator("#optout-photos").SetInputFilesAsync(photo);
        await page.Locator("#optout-submit").ClickAsync();

        // Nothing is recorded before the explicit confirmation.
        await Assertions.Expect(page.Locator("#optout-warning")).ToContainTextAsync("erases");
        Assert.DoesNotContain(await server.Engine.OptOuts.ListOptOutsAsync(), r => r.Reference == reference);
        await page.Locator("#optout-confirm").ClickAsync();

        var result = page.Locator("[data-testid=optout-result]");
        await Assertions.Expect(result).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 60_000 });
        await Assertions.Expect(result).ToContainTextAsync("face 1 of");
        await Assertions.Expect(page.Locator("[data-testid=optout-erased]")).ToContainTextAsync("audit event");
        await Assertions.Expect(page.Locator("[data-testid=optout-table]")).ToContainTextAsync(reference);
        await server.ShotAsync(page, "optout-1-recorded");

        var recorded = Assert.Single(await server.Engine.OptOuts.ListOptOutsAsync(), r => r.Reference == reference);
        Assert.Equal(ServerFixture.AdminName, recorded.RecordedBy);
        Assert.True(recorded.FacesErased >= galleryPhotos - 1, $"{recorded.FacesErased} faces erased of the person's {galleryPhotos} gallery photos");
        await Assertions.Expect(page.Locator("[data-testid=optout-erased]")).ToContainTextAsync($"{recorded.FacesErased} face");
        Assert.Empty(errors);
    }

    [SkippableFact]
    public async Task The_oversight_pages_fit_a_phone_and_refuse_pages_a_role_does_not_open()
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
        await SignInAsync(page, ServerFixture.SupervisorName);
        await PageChecks.AssertNoHorizontalScrollAsync(page, "on the cases page");
        await page.Locator("[data-testid=case-link]", new PageLocatorOptions { HasText = ServerFixture.AnalystCase }).ClickAsync();
        await Assertions.Expect(page.Locator("#case-heading")).ToContainTextAsync(ServerFixture.AnalystCase);
        await PageChecks.AssertNoHorizontalScrollAsync(page, "on a case page");
        await server.ShotAsync(page, "oversight-phone-case");
        await page.Locator("#nav-oversight").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=audit-intact]")).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
        await PageChecks.AssertNoHorizontalScrollAsync(page, "on the oversight page");
        await server.ShotAsync(page, "oversight-phone-oversight");

        // A supervisor does not search: the search page sends them home with a message.
        await page.GotoAsync(server.BaseUrl + "/#/search");
        await Assertions.Expect(page.Locator("#status")).ToContainTextAsync("does not open that page");
        await Assertions.Expect(page.Locator("#search-view")).ToBeHiddenAsync();
        Assert.Empty(errors);
    }

    [SkippableFact]
    public async Task An_analyst_without_an_open_authorised_case_is_told_so_and_cannot_search()
    {
        server.SkipUnlessReady();
        await using var context = await server.Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        var errors = PageChecks.CollectConsoleErrors(page);
        await SignInAsync(page, ServerFixture.UnassignedAnalystName);
        var none = page.Locator("#intake-none");
        await Assertions.Expect(none).ToBeVisibleAsync();
        await Assertions.Expect(none).ToContainTextAsync("You are not assigned to an open, authorised case");
        await Assertions.Expect(page.Locator("#search-case")).ToBeHiddenAsync();

        var (probe, _) = server.Probes[0];
        await page.Locator("#probe-file").SetInputFilesAsync(probe);
        await Assertions.Expect(page.Locator("[data-testid=probe-face]").First).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
        await Assertions.Expect(page.Locator("#search-submit")).ToBeDisabledAsync();
        await Assertions.Expect(page.Locator("#search-submit-hint")).ToContainTextAsync("not assigned to an open, authorised case");
        await server.ShotAsync(page, "oversight-no-case");
        Assert.DoesNotContain(await server.Engine.SearchLog.ListSearchesAsync(1000), s => s.By == ServerFixture.UnassignedAnalystName);
        Assert.Empty(errors);
    }

    private async Task SignInAsync(IPage page, string user)
    {
        await page.GotoAsync(server.BaseUrl + "/");
        await Assertions.Expect(page.Locator("#signin-form")).ToBeVisibleAsync();
        await page.Locator("#username").FillAsync(user);
        await page.Locator("#password").FillAsync(ServerFixture.AnalystPassword);
        await page.Locator("#signin-submit").ClickAsync();
        await Assertions.Expect(page.Locator("#current-user")).ToHaveTextAsync(user);
    }

    /// <summary>The navigation shows exactly the pages the role's permissions open.</summary>
    private static async Task AssertNavAsync(IPage page, string[] shown, string[] hidden)
    {
        foreach (var name in shown)
        {
            await Assertions.Expect(page.Locator($"#nav-{name}")).ToBeVisibleAsync();
        }

        foreach (var name in hidden)
        {
            await Assertions.Expect(page.Locator($"#nav-{name}")).ToBeHiddenAsync();
        }
    }

    /// <summary>Every image in the node (the probe, the candidate's face) has loaded and has pixels.</summary>
    private static async Task AssertImagesLoadedAsync(ILocator node)
    {
        var images = node.Locator("img");
        Assert.True(await images.CountAsync() >= 2);
        for (var i = 0; i < await images.CountAsync(); i++)
        {
            var image = images.Nth(i);
            await Assertions.Expect(image).ToBeVisibleAsync();
            await Assertions.Expect(image).ToHaveJSPropertyAsync("complete", true);
            Assert.True(await image.EvaluateAsync<int>("img => img.naturalWidth") > 0, $"image {i} has no pixels");
        }
    }
}
