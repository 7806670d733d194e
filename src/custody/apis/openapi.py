"""The OpenAPI schemas of every view, as strict as the decoding behind them.

Litestar documents msgspec structs but leaves out two rules our decoding enforces: a struct that
refuses unknown keys gets `additionalProperties: false`, and the length and pattern of the strings
in a list (tags, teams, ids) are carried onto the list's `items`. Each view subclasses this for its
own extra rules. Litestar's struct plugin is private (`litestar._openapi`), hence the pin `<3`; the
conformance tests catch a break."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import Reference

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition


class StrictStructSchemas(StructSchemaPlugin):
    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if not isinstance(info, msgspec.inspect.StructType):
            return schema
        if info.forbid_unknown_fields:
            schema.additional_properties = False
        for field in info.fields:
            prop = (schema.properties or {}).get(field.encode_name)
            kind = field.type.type if isinstance(field.type, msgspec.inspect.Metadata) else field.type
            if not isinstance(kind, msgspec.inspect.ListType) or isinstance(prop, Reference) or prop is None:
                continue
            item, items = kind.item_type, prop.items
            if isinstance(item, msgspec.inspect.StrType) and items is not None and not isinstance(items, Reference):
                assert not isinstance(items, list)
                items.min_length, items.max_length, items.pattern = item.min_length, item.max_length, item.pattern
        return schema
