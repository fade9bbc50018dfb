using Lineup.Vision.Models;
using Microsoft.ML.OnnxRuntime;

namespace Lineup.Vision.Onnx;

/// <summary>
/// One ONNX file behind one <see cref="InferenceSession"/>, built once and reused for the process lifetime.
/// <see cref="InferenceSession.Run(RunOptions, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue})"/>
/// is thread-safe, so ingest workers share it. Each thread that runs it gets its own input and output buffers, pinned
/// once and bound to the session with an <see cref="OrtIoBinding"/>: after a thread's first call, a run allocates
/// nothing on the managed heap (the per-call <see cref="OrtValue"/> wrappers and arrays it used to create were the
/// only garbage of the per-face path; <c>HotPathAllocationTests</c> pins that).
/// </summary>
internal sealed class OnnxModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly ThreadLocal<Binding> _bindings;

    public OnnxModel(string path, ModelFileEntry entry, IReadOnlyList<string>? outputNames = null, ExecutionProvider provider = ExecutionProvider.Cpu, int cudaDevice = 0)
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
            if (provider == ExecutionProvider.Cuda)
            {
                AppendCuda(options, cudaDevice, entry.File);
            }

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
            _bindings = new ThreadLocal<Binding>(() => new Binding(this), trackAllValues: true);
        }
        catch
        {
            _session.Dispose();
            _runOptions.Dispose();
            throw;
        }
    }

    public string Name { get; }

    /// <summary>
    /// Adds the CUDA execution provider (ONNX Runtime falls back to the CPU for any operator it lacks). The CPU-only
    /// runtime has the entry point but reports that the provider is not in the build; either way the error says what to do.
    /// </summary>
    private static void AppendCuda(SessionOptions options, int device, string file)
    {
        try
        {
            options.AppendExecutionProvider_CUDA(device);
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            throw new ModelStoreException(
                $"{file}: the CUDA execution provider (device {device}) is not available: {e.Message.Trim()} It needs a build with the GPU runtime " +
                "(dotnet build -p:OnnxRuntimeGpu=true) and an NVIDIA driver with CUDA 12 and cuDNN 9; otherwise set Lineup:ExecutionProvider to cpu.");
        }
    }

    public long[] InputShape { get; }

    public int InputLength { get; }

    public long[][] OutputShapes { get; }

    public int[] OutputLengths { get; }

    /// <summary>
    /// Runs one batch-1 inference from <paramref name="input"/> into caller-owned output buffers, through this thread's
    /// bound buffers (the copies in and out are about 0.1 % of an inference).
    /// </summary>
    public void Run(float[] input, ReadOnlySpan<float[]> outputs)
    {
        var binding = _bindings.Value!;
        input.AsSpan(0, InputLength).CopyTo(binding.Input);
        _session.RunWithBinding(_runOptions, binding.IoBinding);
        for (var i = 0; i < outputs.Length; i++)
        {
            binding.Outputs[i].AsSpan(0, OutputLengths[i]).CopyTo(outputs[i]);
        }
    }

    public void Dispose()
    {
        foreach (var binding in _bindings.Values)
        {
            binding.Dispose();
        }

        _bindings.Dispose();
        _session.Dispose();
        _runOptions.Dispose();
    }

    /// <summary>One thread's pinned input and output arrays, wrapped as <see cref="OrtValue"/>s and bound once.</summary>
    private sealed class Binding : IDisposable
    {
        private readonly OrtValue[] _values;

        public Binding(OnnxModel model)
        {
            Input = GC.AllocateArray<float>(model.InputLength, pinned: true);
            Outputs = [.. model.OutputLengths.Select(n => GC.AllocateArray<float>(n, pinned: true))];
            var values = new List<OrtValue>();
            try
            {
                IoBinding = model._session.CreateIoBinding();
                var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, Input.AsMemory(), model.InputShape);
                values.Add(input);
                IoBinding.BindInput(model._inputNames[0], input);
                for (var i = 0; i < Outputs.Length; i++)
                {
                    var output = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, Outputs[i].AsMemory(), model.OutputShapes[i]);
                    values.Add(output);
                    IoBinding.BindOutput(model._outputNames[i], output);
                }
            }
            catch
            {
                values.ForEach(v => v.Dispose());
                IoBinding?.Dispose();
                throw;
            }

            _values = [.. values];
        }

        public float[] Input { get; }

        public float[][] Outputs { get; }

        public OrtIoBinding IoBinding { get; }

        public void Dispose()
        {
            IoBinding.Dispose();
            foreach (var value in _values)
            {
                value.Dispose();
            }
        }
    }
}
