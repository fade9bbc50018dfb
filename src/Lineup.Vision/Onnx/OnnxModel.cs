using Lineup.Vision.Models;
using Microsoft.ML.OnnxRuntime;

namespace Lineup.Vision.Onnx;

/// <summary>
/// One ONNX file behind one <see cref="InferenceSession"/>, built once and reused for the process lifetime.
/// <see cref="InferenceSession.Run(RunOptions, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue})"/>
/// is thread-safe, so ingest workers share it; every call brings its own pooled input and output buffers,
/// wrapped (pinned, not copied) as <see cref="OrtValue"/>s.
/// </summary>
internal sealed class OnnxModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;

    public OnnxModel(string path, ModelFileEntry entry, IReadOnlyList<string>? outputNames = null)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Model file for '{entry.Name}' not found; run `{ModelStore.FetchCommand}`.", path);
        }

        // One intra-op thread per session and images in parallel beat two threads per session on 2 cores
        // (models.md); the options are only read while the session is built.
        using (var options = new SessionOptions
        {
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        })
        {
            _session = new InferenceSession(path, options);
        }

        try
        {
            Name = entry.Name;
            _inputNames = [_session.InputNames[0]];
            var input = _session.InputMetadata[_inputNames[0]].Dimensions;
            if (!input.SequenceEqual(entry.Input))
            {
                throw new ModelStoreException(
                    $"{entry.File}: input '{_inputNames[0]}' is [{string.Join(",", input)}] but the manifest says [{string.Join(",", entry.Input)}].");
            }

            InputShape = [.. entry.Input.Select(d => (long)d)];
            InputLength = entry.Input.Aggregate(1, (a, d) => a * d);
            _outputNames = outputNames is null
                ? [.. _session.OutputNames]
                : [.. outputNames.Select(n => _session.OutputNames.Contains(n)
                    ? n
                    : throw new ModelStoreException($"{entry.File} has no output named '{n}' (it has {string.Join(", ", _session.OutputNames)})."))];
            OutputShapes = [.. _outputNames.Select(n => _session.OutputMetadata[n].Dimensions.Select(d => (long)d).ToArray())];
            OutputLengths = [.. OutputShapes.Select(s => (int)s.Aggregate(1L, (a, d) => a * d))];
        }
        catch
        {
            _session.Dispose();
            _runOptions.Dispose();
            throw;
        }
    }

    public string Name { get; }

    public long[] InputShape { get; }

    public int InputLength { get; }

    public long[][] OutputShapes { get; }

    public int[] OutputLengths { get; }

    /// <summary>Runs one batch-1 inference from <paramref name="input"/> into caller-owned output buffers.</summary>
    public void Run(float[] input, ReadOnlySpan<float[]> outputs)
    {
        using var inputValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input.AsMemory(0, InputLength), InputShape);
        var outputValues = new OrtValue[_outputNames.Length];
        try
        {
            for (var i = 0; i < outputValues.Length; i++)
            {
                outputValues[i] = OrtValue.CreateTensorValueFromMemory(
                    OrtMemoryInfo.DefaultInstance, outputs[i].AsMemory(0, OutputLengths[i]), OutputShapes[i]);
            }

            _session.Run(_runOptions, _inputNames, [inputValue], _outputNames, outputValues);
        }
        finally
        {
            foreach (var value in outputValues)
            {
                value?.Dispose();
            }
        }
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }
}
