namespace Lineup.Core.Faces;

/// <summary>A point in image pixel coordinates.</summary>
public readonly record struct PointF(float X, float Y);

/// <summary>An axis-aligned box in image pixel coordinates, corner form.</summary>
public readonly record struct BoxF(float X1, float Y1, float X2, float Y2)
{
    public float Width => X2 - X1;

    public float Height => Y2 - Y1;

    public float Area => Math.Max(0, Width) * Math.Max(0, Height);

    public PointF Center => new((X1 + X2) / 2, (Y1 + Y2) / 2);

    /// <summary>Intersection over union; 0 when either box is empty.</summary>
    public float IoU(BoxF other)
    {
        var w = Math.Min(X2, other.X2) - Math.Max(X1, other.X1);
        var h = Math.Min(Y2, other.Y2) - Math.Max(Y1, other.Y1);
        if (w <= 0 || h <= 0)
        {
            return 0;
        }

        var inter = w * h;
        var union = Area + other.Area - inter;
        return union <= 0 ? 0 : inter / union;
    }

    public override string ToString() => $"{X1:0},{Y1:0},{X2:0},{Y2:0}";
}

/// <summary>One detector hit.</summary>
public readonly record struct FaceDetection(BoxF Box, float Score);

/// <summary>
/// The five alignment points: left eye centre, right eye centre, nose tip, left and right mouth corners
/// ("left" as seen in the image).
/// </summary>
public readonly record struct Landmarks5(PointF LeftEye, PointF RightEye, PointF Nose, PointF MouthLeft, PointF MouthRight)
{
    public PointF this[int i] => i switch
    {
        0 => LeftEye,
        1 => RightEye,
        2 => Nose,
        3 => MouthLeft,
        4 => MouthRight,
        _ => throw new ArgumentOutOfRangeException(nameof(i)),
    };

    /// <summary>Pixel distance between the eye centres.</summary>
    public float InterEyeDistance => MathF.Sqrt(
        ((RightEye.X - LeftEye.X) * (RightEye.X - LeftEye.X)) + ((RightEye.Y - LeftEye.Y) * (RightEye.Y - LeftEye.Y)));
}
