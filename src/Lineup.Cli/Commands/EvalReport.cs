using Lineup.Core.Evaluation;

namespace Lineup.Cli.Commands;

/// <summary>Everything <c>lineup eval</c> measured; written as report.json and rendered as report.md.</summary>
public sealed record EvalReport(
    string Model,
    string Manifest,
    string Pairs,
    DateTimeOffset When,
    int Photos,
    int PhotosWithoutFace,
    double Seconds,
    VerificationSummary Verification,
    IdentificationSummary Identification,
    OpenSetSummary? OpenSet,
    QualitySummary Quality,
    CalibrationSummary? Calibration,
    ScalingSummary? Scaling,
    IReadOnlyList<DegradationSummary> Degradations,
    IReadOnlyList<GroupCount> Groups);

/// <summary>Faces found in a group photo against the count its source documents.</summary>
public sealed record GroupCount(string Path, int Expected, int Found)
{
    public bool AllFound => Found >= Expected;
}

public sealed record VerificationSummary(
    int Genuine,
    int Impostor,
    int PairsWithoutFace,
    double Auc,
    double Eer,
    double EerThreshold,
    double TarAtFar1Percent,
    double ThresholdAtFar1Percent,
    double TarAtFar01Percent,
    double ThresholdAtFar01Percent,
    IReadOnlyList<ProtocolSummary> Protocols);

/// <summary>Per pair protocol: counts, median scores, AUC (when both kinds exist) and the genuine
/// acceptance at the overall FAR 0.1% threshold.</summary>
public sealed record ProtocolSummary(string Protocol, int Genuine, int Impostor, double MedianGenuine, double MedianImpostor, double Auc, double TarAtOverallFar01);

/// <summary>Closed-set identification: every labelled face against all the others.</summary>
public sealed record IdentificationSummary(int Identities, int Probes, int ProbesWithoutFace, int Gallery, double Rank1, double Rank10, IReadOnlyList<double> Cmc);

/// <summary>Open-set 1:N with a mated / non-mated split (<see cref="OpenSetSplit"/>).</summary>
/// <param name="NonMatedSingletons">Non-mated searches by photos of identities that are not in the gallery at all.</param>
/// <param name="NonMatedLeaveMateOut">Non-mated searches by mated probes with their own identity left out.</param>
public sealed record OpenSetSummary(
    int Gallery,
    int NonMatedSingletons,
    int NonMatedLeaveMateOut,
    OpenSetReport Report,
    IReadOnlyList<StratumSummary> Strata);

/// <summary>1:N accuracy of the mated probes in one quality stratum (against all non-mated searches).</summary>
public sealed record StratumSummary(string Stratum, double? QualityFrom, double? QualityTo, int Probes, double Rank1, double? FnirAtFpir1Percent);

/// <summary>Error-versus-discard curves: how errors fall as the lowest-quality samples are discarded.</summary>
/// <param name="VerificationThreshold">The cosine at which the 1:1 FNMR is counted.</param>
/// <param name="Verification">FNMR of the pairs.csv genuine pairs, discarding pairs by their lower face quality.</param>
/// <param name="Identification">Share of mated probes not found at rank 1 at the FPIR-1 % threshold, discarding probes by quality.</param>
public sealed record QualitySummary(
    double VerificationThreshold,
    IReadOnlyList<EdcPoint> Verification,
    IReadOnlyList<EdcPoint> Identification,
    double MedianQuality,
    double RecommendedFloor,
    double FacesUnderFloor);

/// <summary>The similarity → FMR / TMR map fitted on every labelled pair, and its half-on-half check.</summary>
/// <param name="HalfFitOnA">Fitted on identity half A, checked on half B's pairs.</param>
/// <param name="HalfFitOnB">Fitted on half B, checked on half A.</param>
/// <param name="HeldOutCurve">Half A's fit against half B's impostors over a grid of FMR targets (the calibration plot).</param>
public sealed record CalibrationSummary(
    ScoreCalibration Calibration,
    int Identities,
    int Faces,
    CalibrationCheck HalfFitOnA,
    CalibrationCheck HalfFitOnB,
    double ThresholdAtFmr01Percent,
    double ThresholdAtFmr1Percent,
    IReadOnlyList<CalibrationCheckPoint> HeldOutCurve);

/// <summary>FNIR at fixed FPIR as synthetic distractors grow the gallery.</summary>
/// <param name="MatedProbes">Mated probes of identity half B (half A's faces fitted the distractors).</param>
/// <param name="NonMatedProbes">Non-mated probes of half B (each mated probe with a face also counts once with its identity left out).</param>
public sealed record ScalingSummary(DistractorFitReport Fit, int MatedProbes, int NonMatedProbes, IReadOnlyList<ScalingPoint> Points);

public sealed record ScalingPoint(int Multiplier, int GallerySize, double Rank1, double Threshold, double Fpir, double FnirAtFpir1Percent);

/// <summary>Degraded mated probes against the undegraded gallery, at the undegraded FPIR-1 % threshold.</summary>
public sealed record DegradationSummary(
    string Degradation,
    int Probes,
    int NoFace,
    double MedianQuality,
    double Rank1,
    double Rank1Change,
    double Fnir,
    double FnirChange);
