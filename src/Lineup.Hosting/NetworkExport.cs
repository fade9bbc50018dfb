using System.Globalization;
using System.Text;
using System.Xml;
using Lineup.Core.Network;

namespace Lineup.Hosting;

/// <summary>
/// Writes a co-appearance subgraph for Gephi and other graph tools: GraphML (graphml.graphdrawing.org, 1.0) and GEXF
/// 1.3 (gexf.net). Nodes are identities (label: the analyst's name, or "identity N"; faces, images); edges carry their
/// weight, photo and page counts and the ids of the evidence photos. Identities and edges are written in id order, so
/// the same graph gives the same bytes.
/// </summary>
public static class NetworkExport
{
    public const string GraphMlMediaType = "application/graphml+xml";

    public const string GexfMediaType = "application/gexf+xml";

    private static readonly XmlWriterSettings s_settings = new()
    {
        Encoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
        Indent = true,
        Async = false,
        CloseOutput = false,
    };

    /// <summary>The label of an identity in exports and views.</summary>
    public static string Label(IdentityRecord identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return string.IsNullOrWhiteSpace(identity.Name) ? string.Create(CultureInfo.InvariantCulture, $"identity {identity.Id}") : identity.Name;
    }

    public static void WriteGraphMl(NetworkSubgraph graph, Stream output)
    {
        ArgumentNullException.ThrowIfNull(graph);
        using var xml = XmlWriter.Create(output, s_settings);
        const string ns = "http://graphml.graphdrawing.org/xmlns";
        xml.WriteStartDocument();
        xml.WriteStartElement("graphml", ns);
        Key("label", "node", "label", "string");
        Key("faces", "node", "faces", "int");
        Key("images", "node", "images", "int");
        Key("weight", "edge", "weight", "double");
        Key("photos", "edge", "photos", "int");
        Key("pages", "edge", "pages", "int");
        Key("evidence", "edge", "evidence", "string");
        xml.WriteStartElement("graph", ns);
        xml.WriteAttributeString("id", "co-appearance");
        xml.WriteAttributeString("edgedefault", "undirected");
        foreach (var identity in graph.Identities.OrderBy(i => i.Id))
        {
            xml.WriteStartElement("node", ns);
            xml.WriteAttributeString("id", NodeId(identity.Id));
            Data("label", Label(identity));
            Data("faces", Int(identity.Faces));
            Data("images", Int(identity.Images));
            xml.WriteEndElement();
        }

        foreach (var edge in graph.Edges.OrderBy(e => e.A).ThenBy(e => e.B))
        {
            xml.WriteStartElement("edge", ns);
            xml.WriteAttributeString("id", EdgeId(edge));
            xml.WriteAttributeString("source", NodeId(edge.A));
            xml.WriteAttributeString("target", NodeId(edge.B));
            Data("weight", edge.Weight.ToString("R", CultureInfo.InvariantCulture));
            Data("photos", Int(edge.Photos));
            Data("pages", Int(edge.Pages));
            Data("evidence", Evidence(edge));
            xml.WriteEndElement();
        }

        xml.WriteEndElement();
        xml.WriteEndElement();
        xml.WriteEndDocument();

        void Key(string id, string forWhat, string name, string type)
        {
            xml.WriteStartElement("key", ns);
            xml.WriteAttributeString("id", id);
            xml.WriteAttributeString("for", forWhat);
            xml.WriteAttributeString("attr.name", name);
            xml.WriteAttributeString("attr.type", type);
            xml.WriteEndElement();
        }

        void Data(string key, string value)
        {
            xml.WriteStartElement("data", ns);
            xml.WriteAttributeString("key", key);
            xml.WriteString(value);
            xml.WriteEndElement();
        }
    }

    public static void WriteGexf(NetworkSubgraph graph, Stream output)
    {
        ArgumentNullException.ThrowIfNull(graph);
        using var xml = XmlWriter.Create(output, s_settings);
        const string ns = "http://gexf.net/1.3";
        xml.WriteStartDocument();
        xml.WriteStartElement("gexf", ns);
        xml.WriteAttributeString("version", "1.3");
        xml.WriteStartElement("meta", ns);
        xml.WriteElementString("creator", ns, "Lineup");
        xml.WriteElementString("description", ns, "Co-appearance of identities: same photo (weight 1), same page (weight 0.5).");
        xml.WriteEndElement();
        xml.WriteStartElement("graph", ns);
        xml.WriteAttributeString("mode", "static");
        xml.WriteAttributeString("defaultedgetype", "undirected");
        Attributes("node", ("0", "faces", "integer"), ("1", "images", "integer"));
        Attributes("edge", ("0", "photos", "integer"), ("1", "pages", "integer"), ("2", "evidence", "string"));
        xml.WriteStartElement("nodes", ns);
        foreach (var identity in graph.Identities.OrderBy(i => i.Id))
        {
            xml.WriteStartElement("node", ns);
            xml.WriteAttributeString("id", NodeId(identity.Id));
            xml.WriteAttributeString("label", Label(identity));
            Values(("0", Int(identity.Faces)), ("1", Int(identity.Images)));
            xml.WriteEndElement();
        }

        xml.WriteEndElement();
        xml.WriteStartElement("edges", ns);
        foreach (var edge in graph.Edges.OrderBy(e => e.A).ThenBy(e => e.B))
        {
            xml.WriteStartElement("edge", ns);
            xml.WriteAttributeString("id", EdgeId(edge));
            xml.WriteAttributeString("source", NodeId(edge.A));
            xml.WriteAttributeString("target", NodeId(edge.B));
            xml.WriteAttributeString("weight", edge.Weight.ToString("R", CultureInfo.InvariantCulture));
            Values(("0", Int(edge.Photos)), ("1", Int(edge.Pages)), ("2", Evidence(edge)));
            xml.WriteEndElement();
        }

        xml.WriteEndElement();
        xml.WriteEndElement();
        xml.WriteEndElement();
        xml.WriteEndDocument();

        void Attributes(string forWhat, params (string Id, string Title, string Type)[] attributes)
        {
            xml.WriteStartElement("attributes", ns);
            xml.WriteAttributeString("class", forWhat);
            foreach (var (id, title, type) in attributes)
            {
                xml.WriteStartElement("attribute", ns);
                xml.WriteAttributeString("id", id);
                xml.WriteAttributeString("title", title);
                xml.WriteAttributeString("type", type);
                xml.WriteEndElement();
            }

            xml.WriteEndElement();
        }

        void Values(params (string For, string Value)[] values)
        {
            xml.WriteStartElement("attvalues", ns);
            foreach (var (key, value) in values)
            {
                xml.WriteStartElement("attvalue", ns);
                xml.WriteAttributeString("for", key);
                xml.WriteAttributeString("value", value);
                xml.WriteEndElement();
            }

            xml.WriteEndElement();
        }
    }

    private static string NodeId(long identity) => string.Create(CultureInfo.InvariantCulture, $"i{identity}");

    private static string EdgeId(CoAppearanceEdge edge) => string.Create(CultureInfo.InvariantCulture, $"e{edge.A}-{edge.B}");

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The evidence photos as "photo:ID" and "page:ID+ID" (image ids), space separated.</summary>
    private static string Evidence(CoAppearanceEdge edge) => string.Join(' ', edge.Evidence.Select(e => e.Kind == CoAppearanceKind.Photo
        ? string.Create(CultureInfo.InvariantCulture, $"photo:{e.ImageId}")
        : string.Create(CultureInfo.InvariantCulture, $"page:{e.ImageId}+{e.OtherImageId}")));
}
