using System.Globalization;
using System.Text.Json;
using Lineup.Core.Network;
using Lineup.Hosting;
using Microsoft.Playwright;

namespace Lineup.E2E;

/// <summary>
/// Network analysis in a real browser: an analyst opens the network page in their case, opens Barack Obama's identity
/// (its faces, sources and timeline) and names it, sees the co-appearance graph drawn by cytoscape (1 hop, then 2),
/// clicks the Obama–Biden edge and sees its evidence (the group photo <c>obama_and_biden.jpg</c> and the page both were
/// on), opens Biden's identity by clicking his node, and reaches Obama's identity from a search candidate in one click;
/// on a phone the associates table opens the same evidence. What the UI shows is checked against what the server holds.
/// Screenshots land in <c>screenshots/network-*.png</c>.
/// </summary>
[Trait("Category", "Data")]
[Collection(nameof(BrowserCollection))]
public sealed class NetworkJourneyTests(ServerFixture server)
{
    private const string ObamaName = "E2E Barack Obama";

    [SkippableFact]
    public async Task An_analyst_opens_an_identity_its_graph_and_an_edges_evidence_and_reaches_it_from_a_search_in_one_click()
    {
        server.SkipUnlessReady();
        var gallery = await server.NetworkGalleryAsync();
        var store = server.Engine.Network.Store;

        // The partition the page must show: the single photos of each person in one identity each, and of the group
        // photo's faces one in each of those.
        var obamaId = await MostCommonIdentityAsync(store, gallery.ObamaFaceIds);
        var bidenId = await MostCommonIdentityAsync(store, gallery.BidenFaceIds);
        Assert.NotEqual(obamaId, bidenId);
        var groupIdentities = new List<long>();
        foreach (var face in gallery.GroupFaceIds)
        {
            groupIdentities.Add(await store.FindIdentityOfFaceAsync(face) ?? 0);
        }

        Assert.Contains(obamaId, groupIdentities);
        Assert.Contains(bidenId, groupIdentities);
        var obamaFaces = await store.GetIdentityFacesAsync(obamaId);
        var obamaTimeline = await store.GetTimelineAsync(obamaId);
        var query = new NetworkQuery(ServerFixture.AnalystName, ServerFixture.AnalystCase);
        var (_, neighbourhood) = await server.Engine.Network.AssociatesAsync(query, obamaId, 1);
        Assert.Contains(neighbourhood.Identities, i => i.Id == bidenId);

        await using var context = await server.Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        var errors = PageChecks.CollectConsoleErrors(page);

        // The graph library is served by the server itself (embedded from node_modules at build), under the page's CSP.
        var library = await context.APIRequest.GetAsync(server.BaseUrl + "/lib/cytoscape.esm.min.js");
        Assert.Equal(200, library.Status);
        Assert.Contains("javascript", library.Headers["content-type"], StringComparison.Ordinal);
        Assert.Contains("3.35.0", await library.TextAsync(), StringComparison.Ordinal);

        // 1. The network page: the case (one of the analyst's open cases; the oversight journey may have added another),
        //    where the clustering stands, the identities.
        await SignInAsync(page);
        await Assertions.Expect(page.Locator("#nav-network")).ToBeVisibleAsync();
        await page.Locator("#nav-network").ClickAsync();
        await Assertions.Expect(page.Locator("#network-view")).ToBeVisibleAsync();
        var caseChoice = page.Locator("[data-testid=network-case]");
        await Assertions.Expect(caseChoice.Locator($"option[value='{ServerFixture.AnalystCase}']")).ToHaveCountAsync(1);
        await caseChoice.SelectOptionAsync(ServerFixture.AnalystCase);
        await Assertions.Expect(page.Locator("[data-testid=cluster-status]")).ToContainTextAsync("grouped into");
        var card = page.Locator($"[data-testid=identity-card][data-identity-id='{obamaId}']");
        await Assertions.Expect(card).ToBeVisibleAsync();
        await Assertions.Expect(card).ToContainTextAsync($"{obamaFaces.Count} faces");
        await server.ShotAsync(page, "network-1-identities");

        // 2. Obama's identity: every face, the timeline of sightings and the sources.
        await card.Locator("[data-testid=identity-link]").ClickAsync();
        await Assertions.Expect(page.Locator("#identity-view")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#identity-heading")).ToHaveAttributeAsync("data-identity-id", Invariant(obamaId));
        var faces = page.Locator("[data-testid=identity-face]");
        await Assertions.Expect(faces).ToHaveCountAsync(obamaFaces.Count);
        foreach (var face in gallery.ObamaFaceIds.Where(f => obamaFaces.Any(o => o.FaceId == f)))
        {
            await Assertions.Expect(page.Locator($"[data-testid=identity-face][data-face-id='{face}']")).ToHaveCountAsync(1);
        }

        var firstFace = faces.First.Locator("img");
        await Assertions.Expect(firstFace).ToHaveJSPropertyAsync("complete", true);
        Assert.True(await firstFace.EvaluateAsync<int>("img => img.naturalWidth") > 0, "the first face thumbnail has no pixels");
        var timeline = page.Locator("[data-testid=identity-timeline] tbody tr");
        await Assertions.Expect(timeline).ToHaveCountAsync(obamaTimeline.Count);
        await Assertions.Expect(page.Locator("[data-testid=identity-timeline]")).ToContainTextAsync(ServerFixture.NetworkGroupPage);
        await Assertions.Expect(page.Locator("[data-testid=identity-timeline]")).ToContainTextAsync("2009-01-20");
        await Assertions.Expect(page.Locator("[data-testid=identity-sources]")).ToContainTextAsync("news.example.org");
        await Assertions.Expect(page.Locator("[data-testid=identity-sources]")).ToContainTextAsync(ServerFixture.NetworkCollection);

        // The analyst names the identity: the page, the graph and the store say so.
        await page.Locator("#identity-name").FillAsync(ObamaName);
        await page.Locator("[data-testid=identity-name-save]").ClickAsync();
        await Assertions.Expect(page.Locator("#identity-heading")).ToHaveTextAsync(ObamaName);
        Assert.Equal(ObamaName, (await store.GetIdentityAsync(obamaId))?.Name);

        // 3. The graph: drawn by cytoscape on canvas, one node per identity of the neighbourhood, Obama–Biden solid (a
        //    shared photo).
        var graph = page.Locator("[data-testid=identity-graph]");
        await Assertions.Expect(graph).ToHaveAttributeAsync("data-drawn", "true", new LocatorAssertionsToHaveAttributeOptions { Timeout = 15_000 });
        Assert.True(await graph.Locator("canvas").CountAsync() >= 1, "the graph container holds no canvas");
        await page.WaitForFunctionAsync("([id, name]) => window.lineupGraph?.getElementById(id).data('label') === name", new[] { Invariant(obamaId), ObamaName });
        // The nodes are the engine's neighbourhood; the edges are the server's answer (it adds those among the associates).
        var (apiNodes, apiEdges) = await ServerGraphAsync(context, obamaId, 1);
        Assert.Equal(Ids(neighbourhood.Identities.Select(i => i.Id)), apiNodes);
        Assert.Equal(apiNodes, await DrawnNodesAsync(page));
        Assert.Equal(apiEdges, await page.EvaluateAsync<int>("() => window.lineupGraph.edges().length"));
        var ends = new[] { Invariant(obamaId), Invariant(bidenId) };
        const string FindEdge = "([a, b]) => window.lineupGraph.edges().filter(e => (e.source().id() === a && e.target().id() === b) || (e.source().id() === b && e.target().id() === a))";
        Assert.Equal(1, await page.EvaluateAsync<int>($"args => ({FindEdge})(args).length", ends));
        Assert.Equal("solid", await page.EvaluateAsync<string>($"args => ({FindEdge})(args)[0].style('line-style')", ends));
        await Assertions.Expect(page.Locator($"[data-testid=associate][data-identity-id='{bidenId}']")).ToBeVisibleAsync();
        await server.ShotAsync(page, "network-2-identity");

        // 4. A real click on the edge (at its drawn midpoint) shows its evidence: the group photo, and the shared page.
        await ClickInGraphAsync(page, graph, $"args => ({FindEdge})(args)[0].renderedMidpoint()", ends);
        var evidence = page.Locator("[data-testid=edge-evidence]");
        await Assertions.Expect(evidence).ToBeVisibleAsync();
        var photo = evidence.Locator("[data-testid=evidence][data-kind=photo] [data-testid=evidence-image]");
        await Assertions.Expect(photo).ToHaveCountAsync(1);
        await Assertions.Expect(photo).ToHaveAttributeAsync("src", $"/api/images/{gallery.GroupImageId}/preview");
        await Assertions.Expect(photo).ToHaveJSPropertyAsync("complete", true);
        Assert.True(await photo.EvaluateAsync<int>("img => img.naturalWidth") > 0, "the evidence photo has no pixels");
        await Assertions.Expect(evidence.Locator("[data-testid=evidence][data-kind=photo]")).ToContainTextAsync(ServerFixture.NetworkGroupPage);
        await Assertions.Expect(evidence.Locator("[data-testid=evidence][data-kind=page]")).ToContainTextAsync(ServerFixture.NetworkSharedPage);
        await Assertions.Expect(evidence.Locator("[data-testid=evidence][data-kind=page] [data-testid=evidence-image]")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator("[data-testid=edge-evidence-summary]")).ToContainTextAsync("1 shared photo and 1 shared page");
        await Assertions.Expect(evidence).ToContainTextAsync($"Seen together: {ObamaName} and");
        Assert.True(await page.EvaluateAsync<bool>($"args => ({FindEdge})(args)[0].selected()", ends), "the clicked edge is not marked");
        await server.ShotAsync(page, "network-3-evidence");

        // Two hops: the graph is drawn again with the server's wider neighbourhood; the export follows the reach.
        var (_, wider) = await server.Engine.Network.AssociatesAsync(query, obamaId, 2);
        await page.Locator("[data-testid=identity-hops]").SelectOptionAsync("2");
        await Assertions.Expect(graph).ToHaveAttributeAsync("data-hops", "2");
        (apiNodes, apiEdges) = await ServerGraphAsync(context, obamaId, 2);
        Assert.Equal(Ids(wider.Identities.Select(i => i.Id)), apiNodes);
        Assert.Equal(apiNodes, await DrawnNodesAsync(page));
        Assert.Equal(apiEdges, await page.EvaluateAsync<int>("() => window.lineupGraph.edges().length"));
        var export = await context.APIRequest.GetAsync(server.BaseUrl + await page.Locator("[data-testid=identity-export-graphml]").GetAttributeAsync("href"));
        Assert.Equal(200, export.Status);
        var graphMl = await export.TextAsync();
        Assert.Contains("<graphml", graphMl, StringComparison.Ordinal);
        Assert.Contains(ObamaName, graphMl, StringComparison.Ordinal);

        // 5. Clicking a node opens that identity.
        await ClickInGraphAsync(page, graph, "id => window.lineupGraph.getElementById(id).renderedPosition()", Invariant(bidenId));
        await Assertions.Expect(page.Locator("#identity-heading")).ToHaveAttributeAsync("data-identity-id", Invariant(bidenId));
        await Assertions.Expect(page.Locator("[data-testid=identity-face]")).ToHaveCountAsync((await store.GetIdentityFacesAsync(bidenId)).Count);

        // 6. From a search candidate to its identity in one click.
        await page.Locator("#nav-search").ClickAsync();
        await AnalystJourneyTests.ChooseCaseAndSourceAsync(page);
        await page.Locator("#probe-file").SetInputFilesAsync(gallery.ObamaProbe);
        await Assertions.Expect(page.Locator("[data-testid=probe-face]").First).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
        await page.Locator("#search-submit").ClickAsync();
        var first = page.Locator("[data-testid=candidate][data-rank='1']");
        await Assertions.Expect(first).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 30_000 });
        var candidateFace = long.Parse(await first.GetAttributeAsync("data-face-id") ?? "", CultureInfo.InvariantCulture);
        Assert.Equal(obamaId, await store.FindIdentityOfFaceAsync(candidateFace));
        await server.ShotAsync(page, "network-4-candidate");
        await first.Locator("[data-testid=candidate-identity]").ClickAsync();
        await Assertions.Expect(page.Locator("#identity-heading")).ToHaveAttributeAsync("data-identity-id", Invariant(obamaId));
        await Assertions.Expect(page.Locator($"[data-testid=identity-face][data-face-id='{candidateFace}']")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("[data-testid=back-to-search]")).ToBeVisibleAsync();
        await server.ShotAsync(page, "network-5-from-search");

        // 7. On a phone, the associates table opens the same evidence, and nothing scrolls sideways.
        await page.SetViewportSizeAsync(390, 844);
        await Assertions.Expect(graph).ToHaveAttributeAsync("data-drawn", "true");
        await page.Locator($"[data-testid=associate][data-identity-id='{bidenId}'] [data-testid=associate-evidence]").ClickAsync();
        await Assertions.Expect(evidence.Locator("[data-testid=evidence][data-kind=photo] [data-testid=evidence-image]"))
            .ToHaveAttributeAsync("src", $"/api/images/{gallery.GroupImageId}/preview");
        await PageChecks.AssertNoHorizontalScrollAsync(page, "on an identity page with an edge's evidence open");
        await server.ShotAsync(page, "network-6-identity-phone");

        Assert.Empty(errors);
    }

    /// <summary>
    /// A real mouse click on the drawn graph at the point <paramref name="point"/> (a function of <paramref name="arg"/>
    /// answering cytoscape's rendered coordinates), with the graph in the middle of the window, clear of the sticky banner.
    /// </summary>
    /// <remarks>
    /// Cytoscape maps a click through the page position of its container, which it caches and forgets on a scroll event.
    /// The browser dispatches the scroll event of <c>scrollIntoView</c> at its next animation frame, so a click sent
    /// before that frame was mapped through the position before the scroll and missed (step 5 after the evidence panel
    /// had scrolled the page, once in about ten CI runs). The point is therefore read in animation frames, which run after
    /// that frame's scroll events, and clicked once two frames in a row agree on it.
    /// </remarks>
    private static async Task ClickInGraphAsync(IPage page, ILocator graph, string point, object arg)
    {
        var at = await graph.EvaluateAsync<JsonElement>(
            $$"""
            async (graph, arg) => {
                graph.scrollIntoView({ block: 'center' });
                const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
                const read = () => {
                    const box = graph.getBoundingClientRect();
                    const at = ({{point}})(arg);
                    return { x: box.left + graph.clientLeft + at.x, y: box.top + graph.clientTop + at.y };
                };
                let last = null;
                for (let i = 0; i < 120; i++) {
                    await frame();
                    const next = read();
                    if (last && next.x === last.x && next.y === last.y) {
                        return next;
                    }
                    last = next;
                }
                throw new Error(`the point in the graph did not settle in 120 frames (last at ${last.x}, ${last.y})`);
            }
            """, arg);
        await page.Mouse.ClickAsync((float)at.GetProperty("x").GetDouble(), (float)at.GetProperty("y").GetDouble());
    }

    /// <summary>The graph GET …/associates answers (what the page draws): its node ids in order and its edge count.</summary>
    private async Task<(string Nodes, int Edges)> ServerGraphAsync(IBrowserContext context, long identity, int hops)
    {
        var response = await context.APIRequest.GetAsync(
            $"{server.BaseUrl}/api/network/identities/{identity}/associates?case={Uri.EscapeDataString(ServerFixture.AnalystCase)}&hops={hops}");
        Assert.Equal(200, response.Status);
        using var body = JsonDocument.Parse(await response.TextAsync());
        var graph = body.RootElement.GetProperty("graph");
        return (Ids(graph.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetInt64())), graph.GetProperty("edges").GetArrayLength());
    }

    /// <summary>The identities drawn as nodes, in id order.</summary>
    private static async Task<string> DrawnNodesAsync(IPage page) =>
        Ids((await page.EvaluateAsync<string[]>("() => window.lineupGraph.nodes().map(n => n.id())")).Select(id => long.Parse(id, CultureInfo.InvariantCulture)));

    private static string Ids(IEnumerable<long> ids) => string.Join(",", ids.Order());

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The identity most of the faces are in (a single photo may hold a stray second face).</summary>
    private static async Task<long> MostCommonIdentityAsync(INetworkStore store, IReadOnlyList<long> faces)
    {
        var identities = new List<long>();
        foreach (var face in faces)
        {
            if (await store.FindIdentityOfFaceAsync(face) is { } id)
            {
                identities.Add(id);
            }
        }

        Assert.NotEmpty(identities);
        var (identity, count) = identities.GroupBy(i => i).Select(g => (g.Key, g.Count())).MaxBy(g => g.Item2);
        Assert.True(count * 2 > faces.Count, $"the faces {string.Join(", ", faces)} are not mostly in one identity");
        return identity;
    }

    private async Task SignInAsync(IPage page)
    {
        await page.GotoAsync(server.BaseUrl + "/");
        await Assertions.Expect(page.Locator("#signin-form")).ToBeVisibleAsync();
        await page.Locator("#username").FillAsync(ServerFixture.AnalystName);
        await page.Locator("#password").FillAsync(ServerFixture.AnalystPassword);
        await page.Locator("#signin-submit").ClickAsync();
        await Assertions.Expect(page.Locator("#current-user")).ToContainTextAsync(ServerFixture.AnalystName);
    }
}
