using System.Diagnostics;
using System.Security.Cryptography;
using System.Threading.Channels;
using Lineup.Core.Catalog;
using Lineup.Core.Faces;
using Lineup.Core.Imaging;
using Lineup.Core.Indexing;
using Lineup.Ingest.Sources;

namespace Lineup.Ingest;

/// <summary>
/// Source → analysis workers → batched catalog writer → index, joined by bounded channels so that a
/// slow stage holds the others back instead of filling memory. The catalog write is the commit point: an
/// image is either wholly in the catalog (image row and every face) or not at all, and the index is
/// updated only after that commit (it is derived and caught up from the catalog on the next start if the
/// process dies in between). A bad item never stops the run: it ends as Refused or Failed with a reason.
/// </summary>
public sealed class IngestPipeline(IPhotoAnalyzer analyzer, ICatalog catalog, IVectorIndex index, IngestOptions options)
{
    private sealed record Analysed(IngestItem Item, NewImage Image, StageTimings Timings);

    /// <summary>Runs the whole source; <paramref name="onOutcome"/> is called once per item, from one thread.</summary>
    public async Task<IngestSummary> RunAsync(
        IIngestSource source,
        Collection collection,
        Action<IngestOutcome>? onOutcome = null,
        CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        var workers = Math.Max(1, options.Workers);
        var items = Channel.CreateBounded<IngestItem>(new BoundedChannelOptions(workers * 4) { SingleWriter = true });
        var results = Channel.CreateBounded<object>(new BoundedChannelOptions(options.BatchSize * 2) { SingleReader = true });
        var outcomes = new List<IngestOutcome>();

        // A stage that fails (the source cannot be listed, the catalog cannot be written) stops the
        // others, which would otherwise wait forever on a full or never-drained channel.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        async Task StopOnFailureAsync(Func<Task> stage)
        {
            try
            {
                await stage().ConfigureAwait(false);
            }
            catch
            {
                await stop.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }

        var reader = StopOnFailureAsync(async () =>
        {
            try
            {
                await foreach (var item in source.ReadAsync(stop.Token).ConfigureAwait(false))
                {
                    await items.Writer.WriteAsync(item, stop.Token).ConfigureAwait(false);
                }
            }
            finally
            {
                items.Writer.Complete();
            }
        });

        var analysers = Enumerable.Range(0, workers).Select(_ => Task.Run(() => StopOnFailureAsync(async () =>
        {
            await foreach (var item in items.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                await results.Writer.WriteAsync(await AnalyseAsync(item, collection, stop.Token).ConfigureAwait(false), stop.Token).ConfigureAwait(false);
            }
        }), stop.Token)).ToArray();

        var completion = Task.WhenAll(analysers).ContinueWith(t => results.Writer.Complete(t.Exception), TaskScheduler.Default);

        var writer = StopOnFailureAsync(() => WriteAsync(results.Reader, outcome =>
        {
            outcomes.Add(outcome);
            onOutcome?.Invoke(outcome);
        }, stop.Token));

        var all = Task.WhenAll(reader, completion, writer);
        try
        {
            await all.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && all.Exception is { } failure)
        {
            // Report the stage that failed, not the cancellation it caused in the others.
            throw failure.Flatten().InnerExceptions.FirstOrDefault(e => e is not OperationCanceledException) ?? failure;
        }

        return IngestSummary.From(outcomes, clock.Elapsed);
    }

    /// <summary>Reads, hashes and analyses one item; returns either an <see cref="Analysed"/> or a final <see cref="IngestOutcome"/>.</summary>
    private async Task<object> AnalyseAsync(IngestItem item, Collection collection, CancellationToken ct)
    {
        byte[] bytes;
        try
        {
            bytes = await item.ReadAsync(ct).ConfigureAwait(false);
        }
        catch (IngestItemRefusedException e)
        {
            return Final(item, IngestStatus.Refused, e.Message);
        }
        catch (IngestItemFailedException e)
        {
            return Final(item, IngestStatus.Failed, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Final(item, IngestStatus.Failed, $"{item.Name}: cannot be read: {e.Message}");
        }

        var sha = SHA256.HashData(bytes);
        if (await catalog.FindImageAsync(sha, ct).ConfigureAwait(false) is { } existing)
        {
            return new IngestOutcome(item.Name, IngestStatus.Duplicate, 0, $"same bytes as image {existing.Id}", existing.Id, default);
        }

        PhotoAnalysis analysis;
        try
        {
            analysis = analyzer.Analyze(bytes, options.Limits);
        }
        catch (ImageRejectedException e)
        {
            var status = e.Reason is ImageRejection.Corrupt ? IngestStatus.Failed : IngestStatus.Refused;
            return Final(item, status, $"{item.Name}: {e.Message}");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Final(item, IngestStatus.Failed, $"{item.Name}: analysis failed: {e.GetType().Name}: {e.Message}");
        }

        var image = new NewImage(
            collection.Id,
            sha,
            bytes.LongLength,
            analysis.Info.Format.ToString().ToLowerInvariant(),
            analysis.Info.Width,
            analysis.Info.Height,
            item.Provenance,
            analysis.Faces);
        return new Analysed(item, image, analysis.Timings);
    }

    private static IngestOutcome Final(IngestItem item, IngestStatus status, string reason) =>
        new(item.Name, status, 0, reason, null, default);

    /// <summary>
    /// Natural batching: whatever has queued up while the previous batch was written (at most
    /// <see cref="IngestOptions.BatchSize"/>) goes into the next transaction. When the writer keeps up, each
    /// image is committed as soon as it is analysed; when it falls behind, batches grow and amortise fsync.
    /// </summary>
    private async Task WriteAsync(ChannelReader<object> reader, Action<IngestOutcome> report, CancellationToken ct)
    {
        var batch = new List<Analysed>(options.BatchSize);
        while (await reader.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            while (batch.Count < options.BatchSize && reader.TryRead(out var next))
            {
                if (next is IngestOutcome final)
                {
                    report(final);
                }
                else
                {
                    batch.Add((Analysed)next);
                }
            }

            if (batch.Count > 0)
            {
                await CommitAsync(batch, report, ct).ConfigureAwait(false);
                batch.Clear();
            }
        }
    }

    /// <summary>
    /// Writes the batch in one transaction. When the batch as a whole is rejected, each image is retried
    /// alone so that one bad row costs only itself.
    /// </summary>
    private async Task CommitAsync(List<Analysed> batch, Action<IngestOutcome> report, CancellationToken ct)
    {
        IReadOnlyList<StoredImage> stored;
        try
        {
            stored = await catalog.AddImagesAsync(batch.Select(b => b.Image).ToList(), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (batch.Count > 1 && e is not OperationCanceledException)
        {
            foreach (var one in batch)
            {
                await CommitAsync([one], report, ct).ConfigureAwait(false);
            }

            return;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            report(new IngestOutcome(batch[0].Item.Name, IngestStatus.Failed, 0,
                $"{batch[0].Item.Name}: catalog write failed: {e.Message}", null, batch[0].Timings));
            return;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            var (item, image, timings) = batch[i];
            var result = stored[i];
            if (result.AlreadyPresent)
            {
                report(new IngestOutcome(item.Name, IngestStatus.Duplicate, 0, $"same bytes as image {result.ImageId}", result.ImageId, timings));
                continue;
            }

            for (var f = 0; f < result.FaceIds.Count; f++)
            {
                index.Add(result.FaceIds[f], image.Faces[f].Embedding);
            }

            var status = result.FaceIds.Count > 0 ? IngestStatus.Ingested : IngestStatus.NoFace;
            report(new IngestOutcome(item.Name, status, result.FaceIds.Count, null, result.ImageId, timings));
        }
    }
}
