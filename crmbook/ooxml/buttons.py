"""VML for macro buttons (form-control buttons, as Excel writes them in ``xl/drawings/vmlDrawingN.vml``).

A button is a ``v:shape`` of type 201 whose ``x:ClientData`` names the macro it runs
(``x:FmlaMacro``) and the cells it covers (``x:Anchor``: left column, offset, top row, offset, right
column, offset, bottom row, offset; zero-based; offsets are pixels, never negative). Excel, LibreOffice and the xlwings add-in read it.
"""

from __future__ import annotations

from crmbook.changeset import Button
from crmbook.ooxml.xmltext import escape_text

__all__ = ["CT_VML", "RT_VML", "buttons_vml"]

RT_VML = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/vmlDrawing"
CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"


def _shape(button: Button, shape_id: int, z: int) -> str:
    # Offsets are pixels into a cell and never negative (Excel writes none): the button starts a little
    # inside its top-left cell and ends on the border of the cell past its last one.
    anchor = (
        f"{button.col - 1}, 4, {button.row - 1}, 4, "
        f"{button.col - 1 + button.cols}, 0, {button.row - 1 + button.rows}, 0"
    )
    label = escape_text(button.label)
    return (
        f'<v:shape id="_x0000_s{shape_id}" type="#_x0000_t201" '
        f'style="position:absolute;z-index:{z};mso-wrap-style:tight" o:button="t" '
        'fillcolor="buttonFace [67]" strokecolor="windowText [64]" o:insetmode="auto">'
        '<v:fill color2="buttonFace [67]" o:detectmouseclick="t"/>'
        '<o:lock v:ext="edit" rotation="t"/>'
        '<v:textbox style="mso-direction-alt:auto" o:singleclick="f">'
        f'<div style="text-align:center"><font face="Microsoft YaHei" size="220" color="#000000">{label}</font></div>'
        "</v:textbox>"
        '<x:ClientData ObjectType="Button">'
        f"<x:Anchor>{anchor}</x:Anchor>"
        "<x:PrintObject>False</x:PrintObject>"
        "<x:AutoFill>False</x:AutoFill>"
        f"<x:FmlaMacro>[0]!{escape_text(button.macro)}</x:FmlaMacro>"
        "<x:TextHAlign>Center</x:TextHAlign>"
        "<x:TextVAlign>Center</x:TextVAlign>"
        "</x:ClientData>"
        "</v:shape>"
    )


def buttons_vml(buttons: list[Button], block: int) -> bytes:
    """The VML part for ``buttons``; ``block`` (1, 2, …) keeps shape IDs apart from other VML parts."""
    shapes = "".join(_shape(b, block * 1024 + 1 + i, i + 1) for i, b in enumerate(buttons))
    return (
        '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:x="urn:schemas-microsoft-com:office:excel">'
        f'<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="{block}"/></o:shapelayout>'
        '<v:shapetype id="_x0000_t201" coordsize="21600,21600" o:spt="201" path="m,l,21600r21600,l21600,xe">'
        '<v:stroke joinstyle="miter"/>'
        '<v:path shadowok="f" o:extrusionok="f" strokeok="f" fillok="f" o:connecttype="rect"/>'
        '<o:lock v:ext="edit" shapetype="t"/>'
        "</v:shapetype>"
        f"{shapes}</xml>"
    ).encode()
